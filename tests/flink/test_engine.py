"""The Flink operators' core without Flink: whatever way a stream is cut into flushes and
whatever the state goes through between them (packed, stored, unpacked), the outputs are
those of ``edgernn stream --key``, bit for bit; state of another model is refused or reset."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from flinkdata import by_key, feed, reference

import edgernn
from edgernn.errors import StateError
from edgernn.flink.config import FlinkConfig
from edgernn.flink.keystate import KeyState
from edgernn.flink.steps import Engine, Parsed

DATA = Path(__file__).parents[1] / "data"


def cfg(model: str = "", **kw) -> FlinkConfig:
    return FlinkConfig(model, "file:///in/", "file:///out/", key_field="sensor", **kw)


def run_in_flushes(engine: Engine, lines: list[str], seed: int) -> tuple[list[str], list[dict]]:
    """Parse every line, then step them in random-sized flushes as the operators do: each
    key's state written as a blob after every flush (Flink's state), read back when the key is
    not resident; now and then the engine is replaced (a restore: nothing resident), and it
    keeps at most 5 keys resident."""
    outs, rejects, pending = [], [], []
    blobs: dict[str, bytes] = {}
    rng = random.Random(seed)
    engine.cfg.cache_keys = 5

    def flush() -> None:
        nonlocal engine
        if rng.random() < 0.2:
            engine = Engine(engine.cfg, engine.model)
        states = {
            p.key: engine.cached(p.key) or engine.state(p.key, blobs.get(p.key)) for p in pending
        }
        for kind, line in engine.run(pending, states):
            (outs if kind == "out" else rejects).append(line)
        blobs.update({k: engine.blob(k) for k in states})
        engine.trim()
        pending.clear()

    for line in lines:
        kind, item = engine.parse(line)
        if kind == "reject":
            rejects.append(item)
        elif kind == "ok":
            pending.append(item)
            if len(pending) >= rng.choice([1, 3, 17, 64]):
                flush()
    flush()
    return outs, [json.loads(r) for r in rejects]


@pytest.mark.parametrize("seed", [0, 1])
def test_any_flushes_give_the_outputs_of_edgernn_stream_bit_for_bit(tmp_path, seed):
    lines = feed(keys=20, steps=30, seed=seed)
    want, want_rejects = reference(lines, tmp_path)
    outs, rejects = run_in_flushes(Engine(cfg()), lines, seed)
    assert by_key(outs) == want
    assert sorted((r["reason"], r["record"]) for r in rejects) == sorted(
        (r["reason"], r["record"]) for r in want_rejects
    )
    assert len(rejects) == 5  # NaN, not JSON, missing field, out of order, unexpected field


def test_csv_input_with_its_header_gives_the_same_outputs(tmp_path):
    header = "sensor,timestamp,temp,humidity"
    rows = [json.loads(x) for x in feed(keys=3, steps=10, bad=False)]
    lines = [header] + [f"{r['sensor']},{r['timestamp']},{r['temp']},{r['humidity']}" for r in rows]
    want, _ = reference(lines, tmp_path)
    outs, rejects = run_in_flushes(Engine(cfg(csv_header=header)), lines, 0)
    assert by_key(outs) == want and rejects == []


def test_state_of_another_model_is_refused_or_reset_by_the_flag():
    old = Engine(cfg(model=str(DATA / "tiny-lstm.onnx")))
    kind, p = old.parse('{"sensor": "a", "timestamp": 1, "temp": 21.0, "humidity": 50}')
    old.run([p], {"a": KeyState(None)})
    blob = old.blob("a")
    with pytest.raises(StateError, match="key 'a' cannot be used .*--on-model-change reset"):
        Engine(cfg()).state("a", blob)
    fresh = Engine(cfg(on_model_change="reset")).state("a", blob)
    assert fresh == KeyState(None)


def test_a_damaged_state_blob_is_refused_with_the_way_out():
    engine = Engine(cfg())
    engine.run([], {"a": KeyState(None, 5, [])})
    blob = engine.blob("a")
    with pytest.raises(StateError, match="checksum mismatch"):
        engine.state("a", blob[:-3] + b"xyz")


def test_state_carries_the_stream_exactly():
    """A key stepped, packed and unpacked at every step (a new engine each time: nothing
    resident) goes on as one Stream that never stopped."""
    model = edgernn.load(provider="cpu")
    stream = model.stream()
    blob = None
    for t in range(30):
        engine = Engine(cfg(), model)
        p = Parsed("a", [20.0 + t % 7, 50.0 - t % 5], t, "")
        ((kind, line),) = engine.run([p], {"a": engine.state("a", blob)})
        blob = engine.blob("a")
        r = stream.step(p.values)
        assert json.loads(line)["forecast"] == r.forecast and json.loads(line)["step"] == r.step
