"""The runtime never imports torch or onnx: proven in fresh processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUNTIME_SIDE = ("core", "feeds", "serve", "tasks", "checks", "bench", "cli")  # tests/<folder>
HEAVY = ("torch", "onnx", "onnxscript")

PROBE = f"""
import json, sys
import edgernn
from edgernn.cli import main
try:
    main(["stream", "--source", "demo", "--limit", "30", "--quiet"], standalone_mode=False)
    main(["inspect"], standalone_mode=False)
finally:
    sys.stdout.flush()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {set(HEAVY)})
print(json.dumps(heavy), file=sys.stderr)
"""


def test_import_and_stream_load_neither_torch_nor_onnx():
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) >= 30  # the stream really ran
    assert json.loads(r.stderr.strip().splitlines()[-1]) == []


BLOCKER = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {set(HEAVY)}:
            raise ImportError(f"{{name}} is blocked: the runtime must not need it", name=name)
sys.meta_path.insert(0, Block())
"""


@pytest.mark.skipif(
    os.environ.get("EDGERNN_TORCH_BLOCKED") == "1", reason="already inside the blocked run"
)
def test_runtime_tests_pass_with_torch_and_onnx_unimportable(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ, PYTHONPATH=str(tmp_path), EDGERNN_TORCH_BLOCKED="1")
    tests = Path(__file__).parent
    # every runtime-side folder, and the doctests (they skip the train modules without torch)
    runtime_side = [str(tests / d) for d in RUNTIME_SIDE] + [str(tests / "test_doctests.py")]
    cmd = [sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-x", "-p", "no:cacheprovider"]
    r = subprocess.run([*cmd, *runtime_side], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert " passed" in r.stdout
