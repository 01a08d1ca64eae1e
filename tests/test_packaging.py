"""`pip install .` (not only -e) must carry every module and the shipped models."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent


# what a clean checkout does not have: a stale build/ would leak old files into the wheel
NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    "build",
    "dist",
    "*.egg-info",
    ".venv",
    ".ci-venv",
    "__pycache__",
    ".mypy",
    "runs",
    ".venv-flink",
    ".ci-venv-flink",  # the flink stage's PyFlink environments (~0.9 GB)
)


def test_wheel_holds_every_runtime_module_and_the_shipped_model(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("edgernn-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {
        f"edgernn/{p.relative_to(ROOT / 'runtime')}" for p in (ROOT / "runtime").rglob("*.py")
    }
    sources |= {
        f"edgernn/train/{p.relative_to(ROOT / 'train')}" for p in (ROOT / "train").rglob("*.py")
    }
    assert sources <= names, sorted(sources - names)
    assert {
        "edgernn/exported/sensor-forecast.onnx",
        "edgernn/exported/sensor-forecast.golden.json",
    } <= names
    # checkpoints need torch and stay in the repository: the wheel carries no *.pt
    assert not [n for n in names if n.endswith(".pt")]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "edgernn = edgernn.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
