"""Data for sequence classification: labelled sensor windows and labelled texts.

A dataset is a list of variable-length sequences with one label each. Sensor sequences are
float arrays (T, F) in user units; text sequences are strings, tokenized after the vocabulary
is built from the training split. Sequences are independent, so the split is a seeded,
stratified shuffle of whole sequences (never of rows).

>>> data = synth_sensor_classes(n=30, seed=1, length=20)
>>> data.labels, len(data.sequences), data.sequences[0].shape[1]
(('normal', 'spike', 'drift'), 30, 2)
>>> train, val, test = split_indices(data.y, 0.2, 0.2, seed=0)
>>> len(train) + len(val) + len(test), sorted(set(train) & set(test))
(30, [])
>>> tok = build_tokenizer(["a b a", "b c"], "word", vocab_size=2)
>>> tok.vocab, tok.encode("a c d")
(('<unk>', 'a', 'b'), [1, 0, 0])
"""

from __future__ import annotations

import collections
import csv
import importlib
import inspect
import io
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np

from edgernn.errors import DataError, UsageError
from edgernn.signature import Tokenizer
from edgernn.train.classify.readers import detect_format, parse_fasttext, parse_ts, read_text
from edgernn.train.classify.splits import split_indices  # noqa: F401  (re-exported)

UNK = "<unk>"
SENSOR_CLASSES = ("normal", "spike", "drift")
DOC_FAMILIES = ("email", "xml", "http", "unittest", "asyncio", "logging")


@dataclass
class Dataset:
    """Labelled sequences: ``sequences[i]`` (an array (T, F) for sensors, a str for text) has
    class ``y[i]``."""

    kind: str  # "sensor" or "text"
    sequences: list  # (T_i, F) float32 arrays in user units, or texts
    y: np.ndarray  # (N,) int64 class index into ``labels``
    labels: tuple[str, ...]  # class names, in output order
    features: tuple[str, ...] = ()  # sensor column names, in input order
    source: str = ""  # where the data came from
    notes: dict = field(default_factory=dict)  # e.g. sequences dropped and why
    # per sequence: "train", "val" or "test" as the data says (--split-column, --test-data);
    # empty: the split is drawn
    split: list[str] = field(default_factory=list)


# ---- tokenizers -----------------------------------------------------------------------------
def build_tokenizer(texts: list[str], kind: str, vocab_size: int) -> Tokenizer:
    """The ``vocab_size`` most frequent training tokens (ties by first use) plus "<unk>" (id 0).

    Id 0 is also the padding id in training: padding only ever follows a sequence's real
    steps, and the loss reads each sequence's logits at its last real step, so a causal model
    never sees the padding that matters."""
    if kind not in ("char", "word"):
        raise UsageError(f"unknown --tokenizer {kind!r}; choose char or word")
    if vocab_size < 1:
        raise UsageError(f"--vocab-size must be >= 1, got {vocab_size}")
    counts: collections.Counter = collections.Counter()
    probe = Tokenizer(kind, (UNK,), UNK)
    for t in texts:
        counts.update(probe.tokens(t))
    counts.pop(UNK, None)
    return Tokenizer(kind, (UNK, *(t for t, _ in counts.most_common(vocab_size))), UNK)


def encode_texts(tok: Tokenizer, texts: list[str], max_len: int) -> tuple[list[np.ndarray], int]:
    """Token ids per text (first ``max_len`` tokens) and how many tokens were unknown."""
    ids = [np.array(tok.encode(t)[:max_len], dtype=np.int64) for t in texts]
    unk = tok.vocab.index(tok.unk)
    return ids, int(sum(int((a == unk).sum()) for a in ids))


# ---- loading --------------------------------------------------------------------------------
def _options(spec: str) -> tuple[str, dict]:
    name, _, query = spec.partition("?")
    return name, dict(parse_qsl(query))


def load_dataset(
    data: str,
    *,
    text: str | None = None,
    label: str | None = None,
    seq_id: str | None = None,
    features: tuple[str, ...] | None = None,
    fmt: str = "auto",
    encoding: str | None = None,
    split_column: str | None = None,
) -> Dataset:
    """``synth:sensor-classes[?n=600&length=80&seed=0]``, ``synth:docstrings``, or a file: CSV,
    UEA/UCR ``.ts`` or fastText (``readers.detect_format``)."""
    if data.startswith("synth:"):
        return _synthetic(data)
    path = Path(data)
    if not path.is_file():
        raise DataError(
            f"--data {data!r} is not a file; pass a CSV with a header, a .ts or fastText file, "
            "synth:sensor-classes or synth:docstrings"
        )
    kind = detect_format(data, fmt)
    content, note = read_text(path, encoding)
    notes = {"encoding": note} if note else {}
    if kind != "csv" and split_column:
        raise UsageError(
            f"--split-column works on CSV files; {data!r} is {kind}: pass the official test "
            "file with --test-data"
        )
    if kind == "ts":
        seqs, labels, names, more = parse_ts(content, str(path))
        dims = tuple(f"dim{d}" for d in range(seqs[0].shape[1]))
        y = np.array([names.index(v) for v in labels], dtype=np.int64)
        return Dataset("sensor", seqs, y, names, dims, str(path), notes | more)
    if kind == "fasttext":
        texts, labels, more = parse_fasttext(content, str(path))
        names = tuple(sorted(set(labels)))
        y = np.array([names.index(v) for v in labels], dtype=np.int64)
        return Dataset("text", texts, y, names, source=str(path), notes=notes | more)
    if not label:
        raise UsageError(
            "--label COL is required for a CSV: the column holding each sequence's class"
        )
    rows, columns = _read_csv(content, data)
    _require(label, "--label", data, columns)
    if split_column:
        _require(split_column, "--split-column", data, columns)
    if text:
        _require(text, "--text", data, columns)
        texts = [r[text] for r in rows]
        names = sorted({r[label] for r in rows})
        y = np.array([names.index(r[label]) for r in rows], dtype=np.int64)
        split = (
            [_split_value(r[split_column], f"{data!r} line {n}") for n, r in enumerate(rows, 2)]
            if split_column
            else []
        )
        return Dataset("text", texts, y, tuple(names), source=str(path), notes=notes, split=split)
    if not seq_id:
        raise UsageError(
            "a sensor CSV needs --seq-id COL (rows of one sequence share it) and "
            "--features a,b,...; a text CSV needs --text COL"
        )
    _require(seq_id, "--seq-id", data, columns)
    skip = (seq_id, label, split_column)
    features = tuple(features or (c for c in columns if c not in skip))
    missing = [f for f in features if f not in columns]
    if missing:
        raise DataError(
            f"--features {', '.join(missing)} not in {data!r} (it has {', '.join(columns)})"
        )
    out = _sensor_sequences(rows, seq_id, label, features, str(path), split_column)
    out.notes.update(notes)
    return out


SPLITS = ("train", "val", "test")


def _split_value(value: str, where: str) -> str:
    v = value.strip().lower()
    v = {"validation": "val", "valid": "val", "dev": "val"}.get(v, v)
    if v not in SPLITS:
        raise DataError(
            f"{where}: --split-column value {value!r} is not train, val or test; use those (or "
            "validation/dev for val)"
        )
    return v


def merge_test(train: Dataset, test: Dataset) -> Dataset:
    """``train`` with the sequences of an official test file appended (split "test"); every test
    class must occur in training."""
    if train.kind != test.kind or (
        train.kind == "sensor" and len(train.features) != len(test.features)
    ):
        raise DataError(
            f"--test-data {test.source!r} does not match --data {train.source!r} (kind or number "
            "of features differ)"
        )
    unseen = sorted(set(test.labels[i] for i in test.y) - set(train.labels))
    if unseen:
        raise DataError(
            f"--test-data has class(es) {', '.join(unseen)} that --data never shows; a model "
            "cannot learn them"
        )
    y = np.concatenate([train.y, [train.labels.index(test.labels[i]) for i in test.y]]).astype(
        np.int64
    )
    split = train.split or ["train"] * len(train.y)
    split = [("train" if s == "test" else s) for s in split] + ["test"] * len(test.y)
    notes = train.notes | {f"test_{k}": v for k, v in test.notes.items()}
    return Dataset(
        train.kind,
        train.sequences + test.sequences,
        y,
        train.labels,
        train.features,
        f"{train.source} + test {test.source}",
        notes,
        split,
    )


def _synthetic(data: str) -> Dataset:
    """A ``synth:`` dataset, its options from the query string."""
    name, opts = _options(data[len("synth:") :])
    try:
        if name == "sensor-classes":
            return synth_sensor_classes(
                int(opts.get("n", 600)), int(opts.get("seed", 0)), int(opts.get("length", 80))
            )
        if name == "docstrings":
            return docstrings(int(opts.get("min_chars", 40)))
        if name == "polarity":
            return polarity(int(opts.get("n", 400)), int(opts.get("seed", 0)))
    except ValueError as e:
        raise UsageError(f"bad option in --data {data!r} ({e})") from e
    raise UsageError(
        f"unknown --data {data!r}; use synth:sensor-classes, synth:docstrings, synth:polarity or "
        "a file"
    )


def _require(column: str, option: str, data: str, columns: list[str]) -> None:
    if column not in columns:
        raise DataError(
            f"{option} {column!r} is not a column of {data!r} (it has {', '.join(columns)})"
        )


def _sensor_sequences(
    rows: list[dict],
    seq_id: str,
    label: str,
    features: tuple[str, ...],
    source: str,
    split_column: str | None = None,
) -> Dataset:
    """The CSV rows grouped into sequences by ``seq_id`` (file order within a sequence;
    sequences by first appearance), one label each."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r[seq_id], []).append(r)
    seqs, labels, split = [], [], []
    for sid, rs in groups.items():
        if split_column:
            found_split = {_split_value(r[split_column], f"sequence {sid!r}") for r in rs}
            if len(found_split) != 1:
                raise DataError(
                    f"sequence {sid!r} is in more than one split ({', '.join(sorted(found_split))}"
                    f"); --split-column {split_column!r} must be the same on all its rows"
                )
            split.append(found_split.pop())
        found = {r[label] for r in rs}
        if len(found) != 1:
            raise DataError(
                f"sequence {sid!r} has more than one label ({', '.join(sorted(found))}); "
                "one label per sequence"
            )
        try:
            seqs.append(np.array([[float(r[f]) for f in features] for r in rs], dtype=np.float32))
        except ValueError as e:
            raise DataError(f"sequence {sid!r} has a non-numeric feature value ({e})") from e
        if not np.isfinite(seqs[-1]).all():
            raise DataError(f"sequence {sid!r} has NaN or infinite feature values; clean the CSV")
        labels.append(found.pop())
    names = sorted(set(labels))
    y = np.array([names.index(v) for v in labels], dtype=np.int64)
    return Dataset("sensor", seqs, y, tuple(names), features, source, split=split)


def _read_csv(content: str, data: str) -> tuple[list[dict], list[str]]:
    reader = csv.DictReader(io.StringIO(content, newline=""))
    rows = list(reader)
    columns = list(reader.fieldnames or [])
    if not rows:
        raise DataError(f"{data!r} has no data rows")
    return rows, columns


# ---- synthetic and built-in data ------------------------------------------------------------
def synth_sensor_classes(n: int = 600, seed: int = 0, length: int = 80) -> Dataset:
    """Seeded labelled sensor windows of variable length (length/2 .. length) from
    ``sensor_signal``:
    "normal" (no anomaly), "spike" (a 3-step temp spike or dip of 4-7 degrees in the second half),
    "drift" (temp ramps away by 3-6 degrees from somewhere in the first half)."""
    from edgernn.feeds.synth import sensor_signal

    if n < 3 or length < 8:
        raise UsageError(
            f"synth:sensor-classes needs n >= 3 and length >= 8, got n={n}, length={length}"
        )
    rng = np.random.default_rng(seed)
    seqs, y = [], []
    for i in range(n):
        c = i % 3
        t = int(rng.integers(length // 2, length + 1))
        s = sensor_signal(t, seed=seed * 100_003 + i, anomaly_rate=0.0)
        temp, hum = s["temp"].astype(np.float64), s["humidity"].astype(np.float64)
        if c == 1:
            at = int(rng.integers(t // 2, t - 2))
            temp[at : at + 3] += rng.choice([-1.0, 1.0]) * rng.uniform(4.0, 7.0)
        elif c == 2:
            start = int(rng.integers(0, t // 2))
            temp[start:] += rng.choice([-1.0, 1.0]) * np.linspace(
                0, rng.uniform(3.0, 6.0), t - start
            )
        seqs.append(np.stack([temp, hum], axis=1).astype(np.float32))
        y.append(c)
    return Dataset(
        "sensor",
        seqs,
        np.array(y, dtype=np.int64),
        SENSOR_CLASSES,
        ("temp", "humidity"),
        f"synth:sensor-classes?n={n}&length={length}&seed={seed}",
    )


_SUBJECTS = ("the movie", "this film", "the plot", "the acting", "the soundtrack",
             "the ending", "the cast", "the script", "the story", "the dialogue", "the pacing",
             "the visuals")  # fmt: skip
_GOOD = ("great", "wonderful", "moving", "brilliant", "delightful", "superb", "charming",
         "gripping", "beautiful", "funny", "clever", "fresh")  # fmt: skip
_BAD = ("awful", "boring", "dull", "terrible", "clumsy", "tedious", "weak", "bland", "painful",
        "messy", "silly", "flat")  # fmt: skip
NEGATED = 0.1  # share of polarity sentences with "not" before the adjective
_VERBS = ("was", "is", "felt", "seemed")
_ADVERBS = ("", "really ", "truly ", "quite ", "very ", "rather ")
_TAILS = ("", " overall", " to me", " i think", " from start to finish", " in the end",
          " for most of it", " honestly")  # fmt: skip


def polarity(n: int = 400, seed: int = 0) -> Dataset:
    """Seeded labelled movie-review sentences, "pos" or "neg" (half each): a subject, a verb,
    a good or bad adjective, and in a tenth of them "not" before it, which flips the label
    (so word order matters: "not" then "great" is negative).

    >>> data = polarity(8, seed=1)
    >>> len(data.sequences), data.labels, sorted(np.bincount(data.y).tolist())
    (8, ('neg', 'pos'), [4, 4])
    """
    if n < 4:
        raise UsageError(f"synth:polarity needs n >= 4, got n={n}")
    rng = np.random.default_rng(seed)
    texts, y = [], []
    for i in range(n):
        positive = i % 2 == 0
        negated = rng.random() < NEGATED
        words = _GOOD if positive != negated else _BAD
        texts.append(
            f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {'not ' if negated else ''}"
            f"{rng.choice(_ADVERBS)}{rng.choice(words)}{rng.choice(_TAILS)}"
        )
        y.append(1 if positive else 0)
    return Dataset(
        "text",
        texts,
        np.array(y, dtype=np.int64),
        ("neg", "pos"),
        source=f"synth:polarity?n={n}&seed={seed}",
    )


def docstrings(min_chars: int = 40, families: tuple[str, ...] = DOC_FAMILIES) -> Dataset:
    """Real text, offline: every docstring paragraph (>= ``min_chars``) of the modules, classes,
    functions and methods of a few standard-library packages, labelled by package."""
    texts, y = [], []
    for c, family in enumerate(families):
        seen: set[str] = set()
        for para in _doc_paragraphs(family):
            if len(para) >= min_chars and para not in seen:
                seen.add(para)
                texts.append(para)
                y.append(c)
    return Dataset(
        "text",
        texts,
        np.array(y, dtype=np.int64),
        families,
        source=f"synth:docstrings: standard-library docstring paragraphs of {', '.join(families)}",
    )


def _doc_paragraphs(family: str) -> Iterator[str]:
    pkg = importlib.import_module(family)
    names = [family] + sorted(
        m.name
        for m in pkgutil.walk_packages(pkg.__path__, family + ".")
        if "__main__" not in m.name and ".test" not in m.name
    )
    for name in names:
        try:
            module = importlib.import_module(name)
        except Exception:  # platform-specific submodules (e.g. asyncio.windows_events)
            continue
        objs = [module]
        for _, obj in sorted(vars(module).items()):
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and getattr(
                obj, "__module__", None
            ) == name:
                objs.append(obj)
                if inspect.isclass(obj):
                    objs += [f for _, f in sorted(vars(obj).items()) if inspect.isfunction(f)]
        for obj in objs:
            for para in (obj.__doc__ and inspect.cleandoc(obj.__doc__) or "").split("\n\n"):
                yield " ".join(para.split())
