"""Crafted model files: every one is refused with exit 3 and one line naming what is wrong,
before anything is allocated for its states (issue 14, defect 5).

Each case takes the tiny LSTM (tests/data/tiny-lstm.onnx), changes its signature (the
``edgernn.signature`` ONNX metadata) or its bytes, writes it to tmp_path and runs
``edgernn inspect`` and ``edgernn stream`` on it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_checks import one_clear_line
from click.testing import CliRunner

from edgernn.cli import main

TINY = Path(__file__).parents[1] / "data" / "tiny-lstm.onnx"
KEY = "edgernn.signature"
RECORD = '{"temp": 20.0, "humidity": 50.0}\n'


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _read_varint(b: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        n |= (b[i] & 0x7F) << shift
        shift += 7
        i += 1
        if b[i - 1] < 0x80:
            return n, i


def _fields(b: bytes) -> list[tuple[int, bytes, bytes]]:
    """A protobuf message's fields as (number, whole field, payload of a length-delimited one):
    enough to rewrite ModelProto's metadata_props (field 14) without the onnx package."""
    out, i = [], 0
    while i < len(b):
        start = i
        tag, i = _read_varint(b, i)
        kind = tag & 7
        payload = b""
        if kind == 0:
            _, i = _read_varint(b, i)
        elif kind == 1:
            i += 8
        elif kind == 5:
            i += 4
        else:
            size, i = _read_varint(b, i)
            payload, i = b[i : i + size], i + size
        out.append((tag >> 3, b[start:i], payload))
    return out


def _signature() -> dict[str, Any]:
    for number, _, entry in _fields(TINY.read_bytes()):
        if number == 14:  # metadata_props: StringStringEntryProto {1: key, 2: value}
            kv = {n: p.decode() for n, _, p in _fields(entry)}
            if kv.get(1) == KEY:
                return json.loads(kv[2])
    raise AssertionError("tiny-lstm.onnx has no signature")


def _with_signature(path: Path, text: str) -> Path:
    kept = [whole for number, whole, _ in _fields(TINY.read_bytes()) if number != 14]
    key, value = KEY.encode(), text.encode()
    entry = b"\x0a" + _varint(len(key)) + key + b"\x12" + _varint(len(value)) + value
    path.write_bytes(b"".join(kept) + b"\x72" + _varint(len(entry)) + entry)  # field 14, bytes
    return path


def _edit(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        sig = _signature()
        change(sig)
        return _with_signature(path, json.dumps(sig))

    return build


def _set(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda sig: sig.__setitem__(field, value)


def _state(i: int, field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda sig: sig["states"][i].__setitem__(field, value)


def _swap_outputs(sig: dict[str, Any]) -> None:
    a, b = sig["states"][0], sig["states"][1]  # the same shape: only the names tell
    a["output"], b["output"] = b["output"], a["output"]


def _bytes(data: bytes | Callable[[bytes], bytes]) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        path.write_bytes(data(TINY.read_bytes()) if callable(data) else data)
        return path

    return build


# case -> (how to build it, words the error line must hold)
CASES: dict[str, tuple[Callable[[Path], Path], tuple[str, ...]]] = {
    "signature is a list": (lambda p: _with_signature(p, "[1, 2]"), ("not a JSON object",)),
    "signature not JSON": (lambda p: _with_signature(p, "{task"), ("not valid JSON",)),
    "features a number": (_edit(_set("features", 5)), ("features",)),
    "layers of text": (_edit(_set("layers", ["eight"])), ("layers",)),
    "task a number": (_edit(_set("task", 7)), ("task",)),
    "window text": (_edit(_set("window", "twenty")), ("window",)),
    "unknown task": (_edit(_set("task", "teleport")), ("teleport",)),
    "state outputs swapped": (_edit(_swap_outputs), ("state_in.0", "state_out.1")),
    "state input missing": (_edit(_state(0, "input", "nope")), ("nope",)),
    "state missing": (_edit(lambda s: s["states"].pop()), ("state_in.3",)),
    "extra state": (
        _edit(lambda s: s["states"].append(dict(s["states"][0], input="h9", output="o9"))),
        ("h9",),
    ),
    "state shape disagrees": (_edit(_state(0, "shape", [1, "batch", 16])), ("16", "8")),
    "state rank disagrees": (_edit(_state(0, "shape", ["batch", 8])), ("state_in.0",)),
    "huge state shape": (
        _edit(_state(0, "shape", [1, "batch", 400_000_000])),
        ("state_in.0", "400000000", "16777216"),
    ),
    "zero dim": (_edit(_state(0, "shape", [0, "batch", 8])), ("state_in.0", "0")),
    "negative dim": (_edit(_state(0, "shape", [1, "batch", -8])), ("state_in.0", "-8")),
    "no batch axis": (_edit(_state(0, "shape", [1, 1, 8])), ("state_in.0", "batch")),
    "features vs graph width": (
        _edit(
            lambda s: s.update(
                features=["temp", "humidity", "wind"],
                input_scaler={"kind": "standard", "offset": [0, 0, 0], "scale": [1, 1, 1]},
            )
        ),
        ("features", "3", "2"),
    ),
    "targets vs graph width": (
        _edit(
            lambda s: s.update(
                targets=["temp", "humidity"],
                target_scaler={"kind": "standard", "offset": [0, 0], "scale": [1, 1]},
            )
        ),
        ("targets", "2", "1"),
    ),
    "scaler width": (
        _edit(lambda s: s["input_scaler"].update(offset=[20.0])),
        ("input_scaler", "features"),
    ),
    "input dtype unknown": (
        _edit(lambda s: s["inputs"][0].update(dtype="complex128")),
        ("'x'", "complex128"),
    ),
    "input size null": (
        _edit(lambda s: s["inputs"][0].update(shape=["batch", "time", None])),
        ("'x'", "None"),
    ),
    "not ONNX": (_bytes(b"this is not an onnx graph\n" * 10), ("cannot be loaded",)),
    "truncated": (_bytes(lambda b: b[: len(b) // 2]), ("cannot be loaded",)),
    "empty": (_bytes(b""), ("empty",)),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("crafted")
    return {name: build(d / f"{i}.onnx") for i, (name, (build, _)) in enumerate(CASES.items())}


@pytest.mark.parametrize("case", list(CASES))
def test_crafted_model_is_refused_with_one_line(case: str, models: dict[str, Path]) -> None:
    words = CASES[case][1]
    path = str(models[case])
    t0 = time.perf_counter()
    stream = CliRunner().invoke(main, ["stream", "--source", "-", path], input=RECORD)
    assert time.perf_counter() - t0 < 10, "refused only after allocating"
    one_clear_line(stream, 3, *words)
    one_clear_line(CliRunner().invoke(main, ["inspect", path]), 3, *words)


def test_the_untouched_model_still_runs(tmp_path: Path) -> None:
    path = _with_signature(tmp_path / "same.onnx", json.dumps(_signature()))
    result = CliRunner().invoke(main, ["stream", "--source", "-", str(path)], input=RECORD)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[0])["step"] == 1
