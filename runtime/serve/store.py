"""Durable per-key state in SQLite: what ``edgernn stream --state-dir DIR`` keeps in DIR/state.db.

One row per key (``keys``: the key as JSON text, its stream snapshot in the versioned,
model-bound, checksummed format of ``edgernn.core.snapshot``, its last timestamp), and run
metadata (``meta``: the model id, the run counter, the runner's extra). The database is in WAL
mode with ``synchronous=FULL`` and an exclusive lock (one stream per state directory). A
checkpoint is ONE transaction that writes only the keys whose state changed since the last
one (the pool's dirty keys, and keys spilled since) and deletes the keys dropped since: its
cost follows the keys changed, not the keys held. A failed checkpoint (a full disk) rolls back
whole: the previous checkpoint stays intact, nothing is marked saved, and the StateError names
the database file.

Keys not in the pool (spilled by ``--idle-s``, or not seen yet since a restart) live in the
database, not in memory: ``StateStore.spilled`` is the pool's spill mapping; a key's state is
read back (and checked against the model) when its next record arrives. Only keys spilled since
the last checkpoint wait in memory until it writes them. A restart reads no key up front.

A state directory written by the single-file store (``state.edgernn``: one pool snapshot
rewritten at every checkpoint) is migrated on first start, and the old file kept as
``state.edgernn.migrated``.

>>> import tempfile, edgernn, numpy as np
>>> from pathlib import Path
>>> model = edgernn.load(provider="cpu")
>>> d = Path(tempfile.mkdtemp())
>>> store = StateStore(d, model)
>>> pool = edgernn.Pool(model, spilled=store.spilled)
>>> store.bind(pool)
>>> _ = pool.step(["a", "b"], [[21.0, 50.0], [19.0, 60.0]])
>>> store.commit(pool, {"a": 1, "b": 1}, {})
2
>>> _ = pool.step(["a"], [[21.5, 50.0]])
>>> store.commit(pool, {"a": 2, "b": 1}, {})  # only "a" changed
1
>>> store.close()
>>> again = StateStore(d, model)
>>> again.keys, again.last("a")
(2, (2, 2))
>>> again.close()
"""

from __future__ import annotations

import json
import sqlite3
import weakref
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any

from edgernn.core.pool import Pool
from edgernn.core.protocols import LoadedModel
from edgernn.errors import StateError
from edgernn.serve.order import orderable
from edgernn.serve.spilled import Spilled

DB_FILE = "state.db"
OLD_FILE = "state.edgernn"  # the single-file store before SQLite (migrated on first start)
SCHEMA = 1
_TABLES = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
    key TEXT PRIMARY KEY,      -- the key as JSON text: "s1" (a string), 1 (a number), null
    state BLOB NOT NULL,       -- its stream snapshot (edgernn.core.snapshot)
    last_ts TEXT,              -- JSON: the timestamp of its last record, or NULL
    resumed_ts TEXT,           -- JSON: its last timestamp when run `run` resumed it, or NULL
    run INTEGER NOT NULL       -- the run that wrote the row
);
"""
_UPSERT = (
    "INSERT INTO keys (key, state, last_ts, resumed_ts, run) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET state = excluded.state, last_ts = excluded.last_ts, "
    "resumed_ts = excluded.resumed_ts, run = excluded.run"
)


def encode(key: Hashable) -> str:
    """A key's identity in the database: its JSON text (``1`` and ``"1"`` stay distinct).

    >>> encode("1"), encode(1), encode(None)
    ('"1"', '1', 'null')
    """
    return json.dumps(key)


def _ts(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


class StateStore:
    """The SQLite state of one state directory, for one model (see the module)."""

    def __init__(
        self, directory: Path, model: LoadedModel, notice: Callable[[str], None] | None = None
    ):
        """Open (or create) ``directory/state.db``, migrating a single-file state there;
        ``notice`` hears one line when it migrates."""
        self.directory, self.model = Path(directory), model
        self.path = self.directory / DB_FILE
        self.directory.mkdir(parents=True, exist_ok=True)
        self._db: sqlite3.Connection | None = None
        try:
            meta = dict(self.db.execute("SELECT name, value FROM meta").fetchall())
            self.keys: int = self.db.execute("SELECT COUNT(*) FROM keys").fetchone()[0]
        except sqlite3.Error as e:
            self.close()
            raise self._error("cannot be opened", e) from e
        self._check_meta(meta)
        self.run = int(meta.get("run", "0")) + 1  # rows of earlier runs hold resumed timestamps
        self.extra: dict[str, Any] = json.loads(meta.get("extra", "{}"))
        self.spilled = Spilled(self)
        old = self.directory / OLD_FILE
        if old.exists() and "model_id" not in meta:
            self._migrate(old, notice)

    # ---- reading ---------------------------------------------------------------------------
    def row(self, key: Hashable) -> tuple[bytes, Any, Any] | None:
        """(snapshot, last timestamp, resumed timestamp) of ``key``'s row, or None."""
        try:
            found = self.db.execute(
                "SELECT state, last_ts, resumed_ts, run FROM keys WHERE key = ?", (encode(key),)
            ).fetchone()
        except sqlite3.Error as e:
            raise self._error("cannot be read", e) from e
        if found is None:
            return None
        state, last_ts, resumed_ts, run = found
        try:
            last = None if last_ts is None else json.loads(last_ts)
            resumed = None if resumed_ts is None else json.loads(resumed_ts)
        except ValueError as e:
            raise self.damaged(key, f"its timestamp is not JSON ({e})") from e
        if not isinstance(state, bytes) or not (last is None or orderable(last)):
            raise self.damaged(key, "its state is not a blob or its timestamp not a finite value")
        # a row from an earlier run: its last timestamp is where this run resumed the key
        return state, last, last if run != self.run else resumed

    def last(self, key: Hashable) -> tuple[Any, Any] | None:
        """(last timestamp, resumed timestamp) of a key not in the pool, or None."""
        s = self.spilled
        if key in s.stamps:
            return s.stamps[key]
        if key in s.dropped or key in s.new:
            return None
        found = self.row(key)
        return None if found is None else found[1:]

    # ---- the checkpoint ----------------------------------------------------------------------
    def commit(
        self,
        pool: Pool,
        last_ts: Mapping[Hashable, Any],
        resumed_ts: Mapping[Hashable, Any],
        extra: Mapping[str, Any] | None = None,
    ) -> int:
        """One transaction: every key changed since the last commit (``pool.take_dirty()``, keys
        new or spilled since) with its timestamps, deletions of keys dropped since, run
        metadata. Returns the number of rows written. On a failure nothing is marked saved,
        the database keeps the previous checkpoint, and StateError names the file."""
        s, dirty = self.spilled, pool.take_dirty()
        try:
            held = [k for k in dirty | s.new if k in pool]
            rows = [
                (encode(k), blob, _ts(last_ts.get(k)), _ts(resumed_ts.get(k)), self.run)
                for k, blob in zip(held, pool.snapshots(held))
            ]
            for k, blob in s.pending.items():
                last, resumed = s.stamps.get(k, (None, None))
                rows.append((encode(k), blob, _ts(last), _ts(resumed), self.run))
            meta = {"model_id": self.model.model_id, "schema": str(SCHEMA), "run": str(self.run)}
            meta["extra"] = json.dumps(dict(extra or {}))
            self._write(rows, [(encode(k),) for k in s.dropped], meta)
        except BaseException:
            pool.dirty |= dirty  # not saved: the next checkpoint tries them again
            raise
        self.keys += len(s.new) - len(s.dropped)
        for done in (s.new, s.dropped, s.pending, s.stamps):
            done.clear()
        return len(rows)

    def _write(
        self, rows: list[tuple[Any, ...]], deleted: list[tuple[str]], meta: Mapping[str, str]
    ) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(_UPSERT, rows)
            self.db.executemany("DELETE FROM keys WHERE key = ?", deleted)
            self.db.executemany(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", meta.items()
            )
            self.db.execute("COMMIT")
        except sqlite3.Error as e:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise StateError(
                f"checkpoint to {self.path} failed ({e}); it was rolled back and the previous "
                "checkpoint there is intact: free disk space (or fix the file) and start again "
                "with the same --state-dir"
            ) from e

    @property
    def db(self) -> sqlite3.Connection:
        """The connection, opened on first use (again after ``close``): WAL, synchronous
        FULL, and an exclusive lock held while open, so a second stream on the same state
        directory is refused."""
        if self._db is None:
            try:
                db = sqlite3.connect(
                    self.path, timeout=2.0, isolation_level=None, check_same_thread=False
                )
            except sqlite3.Error as e:
                raise self._error("cannot be opened", e) from e
            try:
                db.execute("PRAGMA locking_mode = EXCLUSIVE")
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = FULL")
                db.executescript(_TABLES)
            except sqlite3.Error as e:
                db.close()
                raise self._error("cannot be opened", e) from e
            self._db = db
        return self._db

    def close(self) -> None:
        """Close the database and release its lock (a clean close folds the WAL into
        state.db); the next use opens it again."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def bind(self, pool: Pool) -> None:
        """Tell the spill mapping which keys ``pool`` holds (call once the pool is built)."""
        held = weakref.proxy(pool)  # no reference cycle: a dropped runner closes its database
        self.spilled.active, self.spilled.n_active = held.__contains__, held.__len__
        self.spilled.check = held.check

    # ---- opening -----------------------------------------------------------------------------
    def _check_meta(self, meta: Mapping[str, str]) -> None:
        """StateError when the database was written by another model or another format."""
        if meta.get("schema", str(SCHEMA)) != str(SCHEMA):
            raise StateError(
                f"state database {self.path} has format {meta['schema']!r}, not {SCHEMA}; "
                "use the edgernn that wrote it, or move the directory aside to start fresh"
            )
        theirs = meta.get("model_id")
        if theirs is not None and theirs != self.model.model_id:
            raise StateError(
                f"state database {self.path} belongs to model {theirs[:16]}..., not "
                f"{self.model.path.name} ({self.model.model_id[:16]}...); pass the --state-dir "
                "this model wrote, or move the directory aside to start every key fresh"
            )
        if not str(meta.get("run", "0")).isdigit():
            raise StateError(f"state database {self.path} has a malformed run counter; {_AWAY}")
        try:
            extra = json.loads(meta.get("extra", "{}"))
        except ValueError:
            extra = None
        if not isinstance(extra, dict):
            raise StateError(f"state database {self.path} has malformed metadata; {_AWAY}")

    def _migrate(self, old: Path, notice: Callable[[str], None] | None) -> None:
        """Copy a single-file state (one pool snapshot) into the database, keep the old file."""
        pool = Pool(self.model)
        try:
            extra = pool.load_state(old.read_bytes())
        except StateError as e:
            raise StateError(
                f"state file {str(old)!r} cannot be migrated ({e}); move it aside to start every "
                "key fresh, or pass the --state-dir this model wrote"
            ) from e
        stamps = extra.pop("last_ts", [])
        ok = isinstance(stamps, list) and all(isinstance(p, list) and len(p) == 2 for p in stamps)
        if not ok or len({json.dumps(p[0]) for p in stamps}) != len(stamps):
            raise StateError(
                f"state file {str(old)!r} cannot be migrated (its last timestamps are not a list "
                "of [key, timestamp] pairs, one per key); move it aside to start every key fresh"
            )
        # a non-finite timestamp saved by an older edgernn would block its key: dropped
        last = {k: t for k, t in stamps if orderable(t)}
        keys = [*pool.keys(), *pool.spilled]
        rows = [(encode(k), pool.snapshot(k), _ts(last.get(k)), None, 0) for k in keys]
        meta = {"model_id": self.model.model_id, "schema": str(SCHEMA), "run": "0"}
        self._write(rows, [], meta | {"extra": json.dumps(extra)})
        self.keys = len(rows)
        kept = old.with_name(OLD_FILE + ".migrated")
        old.rename(kept)
        if notice is not None:
            notice(
                f"migrated {len(rows)} key(s) from {old} to SQLite ({self.path}); "
                f"the old file is kept as {kept}"
            )

    def _error(self, what: str, e: Exception) -> StateError:
        locked = "locked" in str(e)
        why = "another edgernn stream holds it" if locked else str(e)
        return StateError(f"state database {self.path} {what} ({why}); {_AWAY}")

    def all_keys(self) -> list[Hashable]:
        """Every key with a row (a full scan: for ``Pool.save_state``, not for streaming)."""
        return [json.loads(text) for (text,) in self.db.execute("SELECT key FROM keys")]

    def damaged(self, key: Hashable, why: str) -> StateError:
        """The error for a key whose row cannot be resumed: key, file, and the way out."""
        return StateError(
            f"state of key {str(key)[:40]!r} in {self.path} is damaged: {why}; delete its row "
            f"(table keys, key {encode(key)[:60]}) to start that key fresh, or move "
            f"{self.directory} aside to start every key fresh"
        )


_AWAY = (
    "move the state directory aside to start every key fresh, or pass the --state-dir "
    "this model wrote"
)
