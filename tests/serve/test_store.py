"""The SQLite state store behind `edgernn stream --state-dir`: checkpoints write only what
changed, spilled keys live in the database, old state directories migrate, forged or damaged
state is refused with one line (exit 6), a full disk rolls a checkpoint back whole, and
SIGKILL at any point loses nothing."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from sensor_feeds import keyed_lines, keyed_records

import edgernn
from edgernn.core import snapshot
from edgernn.errors import StateError
from edgernn.serve.config import RunnerConfig
from edgernn.serve.runner import StreamRunner
from edgernn.serve.store import DB_FILE, OLD_FILE, StateStore, encode

OLD = Path(__file__).resolve().parents[1] / "data" / "state-0.1.0"


def stream(*extra: str, input: str | None = None, **kw) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "edgernn", "stream", "--key", "sensor", *extra]
    return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=120, **kw)


def items(keys, T, seed=0):
    return list(enumerate((dict(r, sensor=k) for k, r in keyed_records(keys, T, seed)), 1))


@contextmanager
def opened(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection of our own to a state database, committed and closed after (closed: a
    stream takes the database's lock only when no other connection is open)."""
    db = sqlite3.connect(path)
    try:
        with db:
            yield db
    finally:
        db.close()


def rows_of(where: Path | StateStore) -> dict:
    """key -> (state, run) of every row, read through an open store (it holds the lock)."""
    if isinstance(where, StateStore):
        return {k: (s, r) for k, s, r in where.db.execute("SELECT key, state, run FROM keys")}
    with opened(where) as db:
        return {k: (s, r) for k, s, r in db.execute("SELECT key, state, run FROM keys")}


def by_key_step(lines: list[str]) -> dict:
    out: dict = {}
    for line in lines:
        d = json.loads(line)
        out.setdefault((d["key"], d["step"]), []).append(d)
    return out


# ---- checkpoints and spills ------------------------------------------------------------------
def test_a_checkpoint_writes_only_the_keys_changed_since_the_last(model, tmp_path):
    store = StateStore(tmp_path, model)
    pool = edgernn.Pool(model, spilled=store.spilled)
    store.bind(pool)
    keys = [f"k{i}" for i in range(40)]
    pool.step_batch(keys, np.tile([[20.0, 50.0]], (40, 1)))
    assert store.commit(pool, {}, {}) == 40
    before = rows_of(store)
    pool.step(["k3", "k7", "k11"], [[21.0, 50.0]] * 3)
    assert store.commit(pool, {}, {}) == 3
    after = rows_of(store)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {encode(k) for k in ("k3", "k7", "k11")}
    assert store.commit(pool, {}, {}) == 0  # nothing changed, nothing written
    store.close()


def test_spilled_keys_live_in_the_database_and_come_back_exactly(model, tmp_path):
    """With --idle-s every key is spilled between its records: at each checkpoint the spilled
    states leave memory for the database, and the outputs equal a run that never spilled."""
    recs = items(("a", "b", "c", "d"), 60)
    whole: list = []
    StreamRunner(model, RunnerConfig(key_field="sensor"), whole.append).run(recs)
    out: list = []
    cfg = RunnerConfig(key_field="sensor", state_dir=tmp_path, idle_s=1e-9, max_batch=1)
    runner = StreamRunner(model, cfg, out.append)
    stats = runner.run(recs)
    assert out == whole
    assert stats.spills > 200 and len(runner.pool) <= 1
    assert runner.store is not None and not runner.store.spilled.pending  # all in the database
    assert runner.keys == 4 and len(runner.pool.spilled) == 4 - len(runner.pool)
    assert len(rows_of(tmp_path / DB_FILE)) == 4


def test_a_restart_resumes_each_key_and_skips_replays(model, tmp_path):
    recs = items(("a", "b"), 200)
    whole: list = []
    StreamRunner(model, RunnerConfig(key_field="sensor"), whole.append).run(recs)
    cfg = RunnerConfig(key_field="sensor", state_dir=tmp_path, idle_s=1e-9)
    first: list = []
    StreamRunner(model, cfg, first.append).run(recs[:150])
    second: list = []
    runner = StreamRunner(model, cfg, second.append)
    stats = runner.run(recs)  # the first 150 are replays
    assert first + second == whole and stats.replayed == 150


def test_a_second_stream_on_the_same_state_dir_is_refused(model, tmp_path):
    store = StateStore(tmp_path, model)
    with pytest.raises(StateError, match="another edgernn stream holds it"):
        StateStore(tmp_path, model)
    store.close()
    StateStore(tmp_path, model).close()  # free again


def test_state_of_another_model_is_refused(model, tmp_path):
    StateStore(tmp_path, model).close()
    with opened(tmp_path / DB_FILE) as db:
        db.execute("INSERT INTO meta VALUES ('model_id', 'f00d')")
    with pytest.raises(StateError, match=r"belongs to model f00d.*pass the --state-dir"):
        StateStore(tmp_path, model)


# ---- migration ---------------------------------------------------------------------------------
def test_an_old_state_directory_migrates_on_first_start_and_goes_on_exactly(tmp_path):
    """A 0.1.0 pool checkpoint as an old --state-dir: read, written to SQLite, the old file
    kept renamed, one line on stderr; key "a" continues exactly as it did in 0.1.0."""
    want = json.loads((OLD / "expected.json").read_text())
    state = tmp_path / "state"
    state.mkdir()
    shutil.copy(OLD / "pool.state", state / OLD_FILE)
    feed = "".join(json.dumps({"sensor": "a", **r}) + "\n" for r in want["rows"][40:])
    r = stream("--state-dir", str(state), input=feed)
    assert r.returncode == 0, r.stderr
    got = [json.loads(x)["forecast"]["temp"] for x in r.stdout.splitlines()]
    assert got == want["pool_after_a"]
    said = [x for x in r.stderr.splitlines() if "migrated" in x]
    assert len(said) == 1 and said[0].startswith(f"migrated 2 key(s) from {state / OLD_FILE}")
    assert not (state / OLD_FILE).exists() and (state / f"{OLD_FILE}.migrated").exists()
    assert len(rows_of(state / DB_FILE)) == 2
    again = stream("--state-dir", str(state), input="")
    assert again.returncode == 0 and "migrated" not in again.stderr


# ---- forged and damaged state (defect 6) ---------------------------------------------------------
def forge(blob: bytes, edit) -> bytes:
    """The blob with its header and arrays edited and the checksum recomputed (a forgery)."""
    meta, arrays = snapshot.unpack(blob, meta_id(blob))
    arrays = {k: np.array(v) for k, v in arrays.items()}
    meta = edit(meta, arrays) or meta
    model_id = meta.pop("model_id")
    return snapshot.pack(model_id, meta, arrays)


def meta_id(blob: bytes) -> str:
    try:
        snapshot.unpack(blob, "?")
    except StateError as e:
        return str(e).split("belongs to model ")[1].split(",")[0]
    raise AssertionError


def set_(name, value):
    def edit(meta, arrays):
        target = meta
        *path, last = name.split(".")
        for p in path:
            target = target[p]
        target[last] = value

    return edit


def array(name, fn):
    def edit(meta, arrays):
        if fn is None:
            del arrays[name]
        else:
            arrays[name] = fn(arrays[name])

    return edit


FORGED = {
    "NaN state": (array("state_0", lambda a: a * np.nan), "state_0 holds NaN"),
    "float64 state": (array("state_1", lambda a: a.astype(np.float64)), "state_1 is float64"),
    "state of another shape": (array("state_2", lambda a: a[..., :5]), "not this model's"),
    "a state missing": (array("state_3", None), "not this model's"),
    "an extra array": (
        lambda m, a: a.update(extra=np.zeros(3, np.float32)),
        "not this model's",
    ),
    "n_steps text": (set_("n_steps", "12"), "n_steps is '12', not a count"),
    "negative n_steps": (set_("n_steps", -1), "not a count"),
    "NaN residual mean": (set_("residuals.mean", [float("nan")]), "residuals.mean"),
    "residuals not an object": (set_("residuals", [1, 2]), "residuals is not an object"),
    "last_pred too long": (set_("last_pred", [1.0, 2.0, 3.0]), "last_pred"),
    "drift with text": (set_("drift.up", ["x"]), "drift.up"),
    "wrong kind": (set_("kind", "pool"), "not a stream's"),
}


@pytest.mark.parametrize("case", sorted(FORGED))
def test_a_forged_snapshot_with_a_valid_checksum_is_refused(model, case):
    edit, said = FORGED[case]
    s = model.stream()
    for _ in range(30):
        s.step([20.0, 50.0])
    blob = forge(s.snapshot(), edit)
    pool = edgernn.Pool(model)
    with pytest.raises(StateError, match=said):
        pool.restore("k", blob)
    assert len(pool) == 0 and "k" not in pool.spilled  # nothing half-loaded


@pytest.mark.parametrize(
    "header, tail, said",
    [
        (b"[1,2]", b"", "header is a list, not an object"),
        (b"\xff\xfe{", b"", "header is not JSON"),
        (b"{}", b"", "lists no arrays"),
        (b'{"__arrays__": [["a", "object", [1]]]}', b"\0" * 8, "malformed array"),
        (b'{"__arrays__": [["a", "float32", [-1]]]}', b"", "malformed array"),
        (b'{"__arrays__": [["a", "uint8", [1]], ["a", "uint8", [1]]]}', b"ab", "'a' twice"),
        (b'{"__arrays__": [["a", "float32", [99]]]}', b"\0" * 8, "runs past the end"),
        (b'{"__arrays__": []}', b"\0", "1 bytes after its arrays"),
    ],
)
def test_a_forged_payload_is_refused_with_a_reason_not_a_traceback(header, tail, said):
    payload = len(header).to_bytes(4, "little") + header + tail
    blob = snapshot.MAGIC + bytes([snapshot.VERSION]) + hashlib.sha256(payload).digest() + payload
    with pytest.raises(StateError, match=said):
        snapshot.unpack(blob, "m")


def test_an_old_pool_checkpoint_with_a_key_twice_is_refused(model):
    pool = edgernn.Pool(model)
    pool.step(["a", "b"], [[20.0, 50.0]] * 2)
    forged = forge(pool.save_state(), set_("keys", ["a", "a"]))
    with pytest.raises(StateError, match="holds key 'a' twice"):
        edgernn.Pool(model).load_state(forged)


def test_a_forged_row_stops_the_stream_with_one_line_naming_file_key_and_way_out(tmp_path):
    lines = keyed_lines(("s1", "s2"), 30)
    state = tmp_path / "state"
    assert stream("--state-dir", str(state), input="\n".join(lines[:20]) + "\n").returncode == 0
    db = state / DB_FILE
    with opened(db) as c:
        (blob,) = c.execute("SELECT state FROM keys WHERE key = ?", (encode("s2"),)).fetchone()
        bad = forge(blob, array("state_0", lambda a: a * np.inf))
        c.execute("UPDATE keys SET state = ? WHERE key = ?", (bad, encode("s2")))
    r = stream("--state-dir", str(state), "--quiet", input="\n".join(lines) + "\n")
    assert r.returncode == 6 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert f"state of key 's2' in {db} is damaged" in line and "holds NaN or infinity" in line
    assert "delete its row" in line and "move" in line
    with opened(db) as c:  # the checkpoint before it is untouched
        assert c.execute("SELECT state FROM keys WHERE key = ?", (encode("s2"),)).fetchone() == (
            bad,
        )


def test_a_file_that_is_not_a_database_is_one_line_exit_6(tmp_path):
    (tmp_path / DB_FILE).write_bytes(b"not sqlite at all" * 100)
    r = stream("--state-dir", str(tmp_path), "--quiet", input="")
    assert r.returncode == 6 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert f"{tmp_path / DB_FILE}" in line and "move the state directory aside" in line


# ---- a full disk (defect 7) ------------------------------------------------------------------
def test_a_full_database_rolls_the_checkpoint_back_and_keeps_what_changed(model, tmp_path):
    """SQLite's own limit makes the database full for real: the checkpoint fails whole, the
    error names the file, the previous checkpoint is intact, and once there is room the
    next checkpoint writes everything that changed."""
    store = StateStore(tmp_path, model)
    pool = edgernn.Pool(model, spilled=store.spilled)
    store.bind(pool)
    pool.step(["a"], [[20.0, 50.0]])
    store.commit(pool, {"a": 1}, {})
    before = rows_of(store)
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")
    keys = [f"k{i}" for i in range(300)]
    pool.step_batch(keys, np.tile([[21.0, 50.0]], (300, 1)))
    with pytest.raises(StateError, match=f"checkpoint to {tmp_path / DB_FILE} failed.*full"):
        store.commit(pool, {}, {})
    assert rows_of(store) == before  # rolled back whole
    store.db.execute("PRAGMA max_page_count = 1000000")
    assert store.commit(pool, {}, {}) == 300  # nothing was marked saved
    store.close()
    assert len(rows_of(tmp_path / DB_FILE)) == 301


def _small_files(limit: int):
    def cap():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return cap


def test_a_full_disk_stops_the_stream_with_one_line_and_a_restart_goes_on(tmp_path):
    """RLIMIT_FSIZE makes every file of the stream stop growing at 64 KiB (a full disk for
    SQLite's writes): exit 6 with one line naming the database; no temp file left; the
    restart resumes from the checkpoint before and the outputs equal one run's."""
    lines = keyed_lines(("s1", "s2"), 40)
    many = keyed_lines([f"n{i}" for i in range(300)], 2, seed=3)
    state = tmp_path / "state"
    full = stream(input="\n".join(lines) + "\n").stdout.splitlines()
    first = stream("--state-dir", str(state), input="\n".join(lines[:40]) + "\n")
    assert first.returncode == 0
    feed = "\n".join(lines[:40] + many) + "\n"
    r = stream("--state-dir", str(state), "--quiet", input=feed, preexec_fn=_small_files(64 * 1024))
    assert r.returncode == 6 and "Traceback" not in r.stderr, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert f"checkpoint to {state / DB_FILE} failed" in line and "previous checkpoint" in line
    assert not [p for p in state.iterdir() if p.suffix == ".tmp"]
    again = stream("--state-dir", str(state), input="\n".join(lines) + "\n")
    assert again.returncode == 0, again.stderr
    assert first.stdout.splitlines() + again.stdout.splitlines() == full


# ---- SIGKILL at several points --------------------------------------------------------------
def test_sigkill_at_several_points_then_one_run_to_the_end_equals_one_uninterrupted_run(tmp_path):
    """`edgernn stream --state-dir` on a file feed, killed with SIGKILL after 150, 700 and 400
    lines of output (each restart re-reads the whole file), then run to the end: every
    (key, step) output came out, and any repeat is identical."""
    src = tmp_path / "feed.jsonl"
    keys = [f"s{i}" for i in range(6)]
    src.write_text("\n".join(keyed_lines(keys, 300)) + "\n")
    full = stream("--source", str(src), "--quiet").stdout.splitlines()
    state = tmp_path / "state"
    cmd = [sys.executable, "-m", "edgernn", "stream", "--key", "sensor", "--quiet"]
    cmd += ["--source", str(src), "--state-dir", str(state), "--checkpoint-every", "97"]
    cmd += ["--idle-s", "0.001"]  # spilled keys are in the database too when the kill comes
    got: list[str] = []
    for at in (150, 700, 400):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        got += [proc.stdout.readline() for _ in range(at)]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        got += proc.stdout.read().splitlines()
    last = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert last.returncode == 0, last.stderr
    got += last.stdout.splitlines()
    want, have = by_key_step(full), by_key_step([x for x in got if x.strip()])
    assert set(have) == set(want)
    for ks, outs in have.items():
        assert all(o == want[ks][0] for o in outs), ks


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_database_always_holds_what_an_in_memory_pool_holds(model, tmp_path, seed):
    """Random steps, spills, resets, removals, restores and checkpoints on a pool whose spills
    go to the database and on one that keeps them in memory: after the last checkpoint the
    database has exactly the memory pool's keys and states, and both count keys alike."""
    rng = np.random.default_rng(seed)
    store = StateStore(tmp_path, model)
    pools = [
        edgernn.Pool(model, spilled=store.spilled, idle_s=0.0),
        edgernn.Pool(model, idle_s=0.0),
    ]
    store.bind(pools[0])
    names = [f"k{i}" for i in range(12)]
    for _ in range(300):
        op = rng.choice(["step", "step", "spill", "reset", "remove", "restore", "commit"])
        keys = sorted({str(k) for k in rng.choice(names, rng.integers(1, 5))})
        rows = (20 + rng.normal(size=(len(keys), 2))).tolist()
        for pool in pools:
            if op == "step":
                pool.step(keys, rows)
            elif op == "spill":
                pool.evict_idle(now=1e12)
            elif op == "reset":
                pool.reset(keys[0])
            elif op == "remove" and (keys[0] in pool or keys[0] in pool.spilled):
                pool.remove(keys[0])
            elif op == "restore":
                pool.restore(keys[0], model.stream().snapshot())
        if op == "commit":
            store.commit(pools[0], {}, {})
        db, mem = pools
        assert len(db) == len(mem) and len(db.spilled) == len(mem.spilled), op
    store.commit(pools[0], {}, {})
    store.close()
    mem = pools[1]
    want = {encode(k): mem.snapshot(k) for k in [*mem.keys(), *mem.spilled]}
    with opened(tmp_path / DB_FILE) as db:
        assert dict(db.execute("SELECT key, state FROM keys")) == want


@pytest.mark.parametrize(
    "edit, said",
    [
        (set_("extra", {"last_ts": 5}), "last timestamps are not a list"),
        (set_("keys", ["a", "a"]), "holds key 'a' twice"),
        (array("mean", lambda a: a * np.nan), "array mean holds NaN"),
        (set_("spilled", ["z"]), "spilled key 'z': its snapshot spilled_0 is missing"),
        (array("n_steps", lambda a: a.astype(np.float64)), "n_steps is float64"),
    ],
)
def test_a_forged_old_state_file_is_refused_before_anything_is_migrated(
    model, tmp_path, edit, said
):
    pool = edgernn.Pool(model)
    pool.step(["a", "b"], [[20.0, 50.0]] * 2)
    blob = forge(pool.save_state({"last_ts": [["a", 1], ["b", 1]]}), edit)
    (tmp_path / OLD_FILE).write_bytes(blob)
    with pytest.raises(StateError, match=f"state file .* cannot be migrated .*{said}"):
        StateStore(tmp_path, model)
    assert (tmp_path / OLD_FILE).read_bytes() == blob  # left as it was, for the user to look at
