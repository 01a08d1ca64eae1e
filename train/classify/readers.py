"""Readers for the formats labelled sequences come in: UEA/UCR ``.ts``, fastText and CSV text,
with the encoding given or detected.

``decode`` turns a file's bytes into text: an explicit ``--encoding`` is used strictly; without
one a byte order mark decides, then UTF-8, then cp1252 (with a note saying so). Bytes that are
invalid in the chosen encoding give one line naming the byte, its offset and its line.

``.ts`` (the format of the UEA/UCR archives, sktime and aeon): ``@`` header lines
(``@problemName``, ``@timeStamps``, ``@missing``, ``@univariate``, ``@dimension(s)``,
``@equalLength``, ``@seriesLength``, ``@classLabel true a b ...``), then after ``@data`` one case
per line: each dimension's values comma-separated, dimensions separated by ``:``, the class label
last; ``?`` is a missing value, and with ``@timeStamps true`` values are ``(time,value)`` pairs.
Cases may differ in length; trailing missing steps are cut off and missing values inside a series
are carried forward (counted in the notes).

>>> ts = b"@problemName toy\\n@univariate false\\n@classLabel true up down\\n@data\\n" \\
...      b"1,2,3:4,5,6:up\\n3,2,?:1,1,?:down\\n"
>>> seqs, labels, names, notes = parse_ts(decode(ts, None, "toy.ts")[0], "toy.ts")
>>> [s.shape for s in seqs], labels, names
([(3, 2), (2, 2)], ['up', 'down'], ('up', 'down'))
>>> parse_fasttext("__label__pos great film\\n__label__neg dull\\n", "x.txt")[:2]
(['great film', 'dull'], ['pos', 'neg'])
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import numpy as np

from edgernn.errors import DataError, UsageError

FORMATS = ("auto", "csv", "ts", "fasttext")
FASTTEXT_PREFIX = "__label__"
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
FALLBACK = "cp1252"  # what a file that is not UTF-8 is most often written in


def detect_format(path: str, fmt: str = "auto") -> str:
    """``fmt`` unless "auto"; else from the extension (.ts; .csv/.tsv; .txt/.ft/.fasttext).

    >>> detect_format("GunPoint_TRAIN.ts"), detect_format("a.txt"), detect_format("a.x", "csv")
    ('ts', 'fasttext', 'csv')
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    ext = Path(path).suffix.lower()
    if ext == ".ts":
        return "ts"
    if ext in (".txt", ".ft", ".fasttext"):
        return "fasttext"
    if ext in (".csv", ".tsv", ""):
        return "csv"
    raise UsageError(
        f"cannot tell the format of {path!r} from its extension {ext!r}; pass --format csv, ts "
        "or fasttext"
    )


def decode(raw: bytes, encoding: str | None, source: str) -> tuple[str, str | None]:
    """The text of ``raw`` and a note when the encoding was a guess other than UTF-8.

    >>> text, note = decode(b"caf\\xe9", None, "f.txt")
    >>> text, note.split(";")[0]
    ('café', 'f.txt is not UTF-8 (byte 0xe9 at offset 3, line 1)')
    """
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError as e:
            raise UsageError(
                f"unknown --encoding {encoding!r}; use e.g. utf-8, cp1252, latin-1"
            ) from e
        try:
            return raw.decode(encoding), None
        except UnicodeDecodeError as e:
            raise DataError(_invalid(raw, e, source, encoding)) from e
    for bom, name in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(name), None
            except UnicodeDecodeError as e:
                raise DataError(_invalid(raw, e, source, name)) from e
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as e:
        first = _where(raw, e)
        try:
            text = raw.decode(FALLBACK)
        except UnicodeDecodeError as e2:
            raise DataError(_invalid(raw, e2, source, f"utf-8 nor {FALLBACK}")) from e2
        return (
            text,
            f"{source} is not UTF-8 ({first}); read it as {FALLBACK} (pass --encoding to choose)",
        )


def _where(raw: bytes, e: UnicodeDecodeError) -> str:
    line = raw.count(b"\n", 0, e.start) + 1
    return f"byte 0x{raw[e.start]:02x} at offset {e.start}, line {line}"


def _invalid(raw: bytes, e: UnicodeDecodeError, source: str, encoding: str) -> str:
    return (
        f"{source}: {_where(raw, e)} is not valid {encoding}; pass the file's encoding with "
        "--encoding (e.g. cp1252, latin-1) or re-save it as UTF-8"
    )


def read_text(path: Path, encoding: str | None) -> tuple[str, str | None]:
    """A file's text (``decode``) and the note, if any."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {str(path)!r} ({e.strerror or e})") from e
    return decode(raw, encoding, str(path))


# ---- fastText ---------------------------------------------------------------------------------
def parse_fasttext(text: str, source: str) -> tuple[list[str], list[str], dict]:
    """``__label__x [__label__y ...] text`` per line: texts, their first label, notes (lines
    with more than one label keep the first)."""
    texts, labels, multi = [], [], 0
    for n, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words:
            continue
        tags = []
        while words and words[0].startswith(FASTTEXT_PREFIX):
            tags.append(words.pop(0)[len(FASTTEXT_PREFIX) :])
        if not tags or not tags[0]:
            raise DataError(
                f"{source} line {n}: no {FASTTEXT_PREFIX}LABEL at the start ({line[:40]!r}); "
                f"every fastText line starts with {FASTTEXT_PREFIX}<class>"
            )
        multi += len(tags) > 1
        texts.append(" ".join(words))
        labels.append(tags[0])
    if not texts:
        raise DataError(f"{source} has no labelled lines")
    return texts, labels, ({"multi_label_lines_first_label_kept": multi} if multi else {})


# ---- UEA/UCR .ts --------------------------------------------------------------------------------
_TRUE = {"true": True, "false": False}
_PAIR = re.compile(r"\(([^,()]*),([^()]*)\)")


def parse_ts(text: str, source: str) -> tuple[list[np.ndarray], list[str], tuple[str, ...], dict]:
    """Sequences (T, D) float32, their labels, the class names (header order) and notes."""
    header: dict[str, str] = {}
    lines = text.splitlines()
    n = 0
    for n, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("@"):
            raise DataError(f"{source} line {n}: {line[:40]!r} before @data; is this a .ts file?")
        key, _, value = line[1:].partition(" ")
        key = key.lower()
        if key == "data":
            break
        header[key] = value.strip()
    else:
        raise DataError(f"{source} has no @data line; is this a .ts file?")
    flags = {k: _flag(header, k, source) for k in ("timestamps", "missing", "univariate")}
    classes = header.get("classlabel", "false").split()
    if not classes or classes[0].lower() != "true":
        raise DataError(
            f"{source} has no class labels (@classLabel {header.get('classlabel', 'missing')}); "
            "classification needs '@classLabel true <classes>'"
        )
    names = tuple(classes[1:])
    dims = header.get("dimensions", header.get("dimension"))
    seqs, labels, filled = [], [], 0
    for m, raw in enumerate(lines[n:], start=n + 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        seq, label, fills = _case(line, m, source, flags["timestamps"])
        if names and label not in names:
            raise DataError(
                f"{source} line {m}: class {label!r} is not in @classLabel ({' '.join(names)})"
            )
        if dims is not None and seq.shape[1] != int(dims):
            raise DataError(f"{source} line {m}: {seq.shape[1]} dimensions, the header says {dims}")
        if seqs and seq.shape[1] != seqs[0].shape[1]:
            raise DataError(
                f"{source} line {m}: {seq.shape[1]} dimensions, earlier cases have "
                f"{seqs[0].shape[1]}"
            )
        seqs.append(seq)
        labels.append(label)
        filled += fills
    if not seqs:
        raise DataError(f"{source} has no cases after @data")
    notes = {"missing_values_filled": filled} if filled else {}
    return seqs, labels, names or tuple(sorted(set(labels))), notes


def _flag(header: dict[str, str], key: str, source: str) -> bool:
    value = header.get(key, "false").lower()
    if value not in _TRUE:
        raise DataError(f"{source}: @{key} {value!r} must be true or false")
    return _TRUE[value]


def _case(line: str, n: int, source: str, timestamps: bool) -> tuple[np.ndarray, str, int]:
    """One data line -> (T, D) float32 (trailing missing steps cut, the rest carried forward),
    its label and how many values were filled."""
    *parts, label = line.split(":")
    if not parts:
        raise DataError(f"{source} line {n}: no ':' before the class label; is this a .ts file?")
    series = []
    for d, part in enumerate(parts):
        cells = [v for _, v in _PAIR.findall(part)] if timestamps else part.split(",")
        try:
            series.append([np.nan if c.strip() in ("?", "") else float(c) for c in cells])
        except ValueError as e:
            raise DataError(
                f"{source} line {n}, dimension {d + 1}: {e}; values are numbers or '?'"
            ) from e
    t = max(len(s) for s in series)
    x = np.full((t, len(series)), np.nan, dtype=np.float32)  # (T, D)
    for d, s in enumerate(series):
        x[: len(s), d] = s
    real = np.flatnonzero(~np.isnan(x).all(axis=1))
    if not len(real):
        raise DataError(f"{source} line {n}: every value is missing")
    x = x[: real[-1] + 1]
    holes = np.isnan(x)
    if holes.any():
        x = _carry_forward(x)
    return x, label.strip(), int(holes.sum())


def _carry_forward(x: np.ndarray) -> np.ndarray:
    """Missing values (NaN) take the last value before them, or the first after (leading)."""
    out = x.copy()  # (T, D)
    for d in range(out.shape[1]):
        col = out[:, d]
        ok = np.flatnonzero(~np.isnan(col))
        if not len(ok):
            col[:] = 0.0
            continue
        idx = np.maximum.accumulate(np.where(np.isnan(col), 0, np.arange(len(col))))
        col[:] = col[idx]
        col[: ok[0]] = col[ok[0]]
    return out
