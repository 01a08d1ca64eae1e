"""The CoNLL column format: one token per line (token, optional POS / chunk columns, the tag in
the last or a chosen column), blank lines between sentences, ``-DOCSTART-`` lines skipped, and
comment lines (``# ...`` whose tag column holds no tag, as GermEval writes them) skipped. Tags
in IOB1, IOB2 or IOBES come back as IOB2.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.conll"
>>> _ = p.write_text("-DOCSTART- -X- O O\\n\\nAngela NNP I-PER\\nMerkel NNP I-PER\\nspoke VBD O\\n")
>>> [(s.tokens, s.tags) for s in read_conll(p)]
[(['Angela', 'Merkel', 'spoke'], ['B-PER', 'I-PER', 'O'])]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgernn.errors import DataError
from edgernn.tasks.tag_scheme import check_scheme, detect_scheme, split_tag, to_iob2


@dataclass
class Sentence:
    """One tagged sentence."""

    tokens: list[str]  # the words, as written
    tags: list[str]  # one IOB2 tag per token


def _lines(path: Path) -> list[str]:
    """The file's lines; DataError naming the line of the first byte that is not UTF-8."""
    if not path.is_file():
        raise DataError(f"--data file {str(path)!r} does not exist; pass a CoNLL file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(
            f"{path.name}:{line}: not UTF-8 (byte 0x{raw[e.start]:02x}); convert the file, "
            f"e.g. iconv -f latin1 -t utf-8 {path.name}"
        ) from None
    return text.splitlines()


def read_conll(
    path: str | Path, column: int = -1, token_column: int = 0, scheme: str = "auto"
) -> list[Sentence]:
    """The sentences of a CoNLL file, tags as IOB2. ``column``: the tag's column (0-based,
    negative from the end); ``scheme``: auto, iob1, iob2 or iobes. DataError with the file and
    line number for a malformed line; an empty file has no sentences (DataError)."""
    path = Path(path)
    scheme = check_scheme(scheme)
    sentences: list[tuple[list[str], list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    for number, line in enumerate(_lines(path), start=1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                sentences.append((tokens, tags))
                tokens, tags = [], []
            continue
        need = max(column + 1 if column >= 0 else -column, token_column + 1)
        if fields[0] == "#" and not tokens and not _is_tag(fields[column:][:1]):
            continue  # a comment line
        if len(fields) < need or len(fields) < 2:
            raise DataError(
                f"{path.name}:{number}: {len(fields)} column(s) in {line.strip()!r}; a CoNLL "
                "line is a token and its tag (and optional columns), separated by spaces "
                "or tabs; pick the tag with --column"
            )
        tag = fields[column]
        try:
            split_tag(tag)
        except DataError as e:
            raise DataError(f"{path.name}:{number}: {e}") from None
        tokens.append(fields[token_column])
        tags.append(tag)
    if tokens:
        sentences.append((tokens, tags))
    if not sentences:
        raise DataError(f"{path.name} holds no sentence; pass a CoNLL file with tagged tokens")
    found = detect_scheme([t for _, t in sentences]) if scheme == "auto" else scheme
    return [Sentence(tok, to_iob2(tag, found)) for tok, tag in sentences]


def _is_tag(fields: Sequence[str]) -> bool:
    try:
        return bool(fields) and bool(split_tag(fields[0]))
    except DataError:
        return False


def write_conll(sentences: Sequence[Sentence], path: str | Path) -> Path:
    """Write ``sentences`` as two-column CoNLL (token, tag), a blank line after each.

    >>> import tempfile, pathlib
    >>> where = pathlib.Path(tempfile.mkdtemp()) / "x.conll"
    >>> p = write_conll([Sentence(["Hi", "Bo"], ["O", "B-PER"])], where)
    >>> p.read_text()
    'Hi O\\nBo B-PER\\n\\n'
    """
    path = Path(path)
    lines = []
    for s in sentences:
        lines += [f"{w} {t}" for w, t in zip(s.tokens, s.tags)] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
