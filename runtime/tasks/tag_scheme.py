"""Entity tag schemes: IOB1, IOB2 and IOBES to the one the tagger uses (IOB2), spans, and which
tag may follow which.

IOB2 starts every entity with ``B-TYPE`` and continues it with ``I-TYPE``; IOB1 uses ``B-`` only
between two adjacent entities of one type; IOBES marks single tokens ``S-`` and last tokens
``E-``. A span is ``(start, end, type)`` with ``end`` exclusive, the CoNLL definition.

>>> to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC"], "iob1")
['B-PER', 'I-PER', 'O', 'B-LOC', 'B-LOC']
>>> to_iob2(["S-ORG", "B-PER", "E-PER"], "iobes")
['B-ORG', 'B-PER', 'I-PER']
>>> spans(["B-PER", "I-PER", "O", "B-LOC"])
[(0, 2, 'PER'), (3, 4, 'LOC')]
>>> allowed("O", "I-PER"), allowed("B-PER", "I-PER"), allowed("B-LOC", "I-PER")
(False, True, False)
"""

from __future__ import annotations

from collections.abc import Sequence

from edgernn.errors import DataError

SCHEMES = ("iob1", "iob2", "iobes")  # what --scheme accepts besides "auto"
Span = tuple[int, int, str]  # (first token, one past the last token, entity type)


def split_tag(tag: str) -> tuple[str, str]:
    """``("B", "PER")`` for ``"B-PER"``, ``("O", "")`` for ``"O"``; DataError for anything else.

    >>> split_tag("B-PER"), split_tag("O")
    (('B', 'PER'), ('O', ''))
    """
    if tag == "O":
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if not sep or prefix not in ("B", "I", "E", "S") or not kind:
        raise DataError(
            f"tag {tag!r} is not O or PREFIX-TYPE (B-, I-, E-, S-); fix the tag column "
            "or pick it with --column"
        )
    return prefix, kind


def check_scheme(scheme: str) -> str:
    """``scheme`` in lower case if it is known; UsageError naming the choices otherwise.

    >>> check_scheme("IOBES")
    'iobes'
    """
    from edgernn.errors import UsageError

    s = scheme.lower()
    if s not in (*SCHEMES, "auto"):
        raise UsageError(f"unknown tag scheme {scheme!r}; choose one of auto, {', '.join(SCHEMES)}")
    return s


def detect_scheme(sentences: Sequence[Sequence[str]]) -> str:
    """The scheme of a corpus: IOBES when it has E- or S- tags, IOB1 when some entity starts
    with I- (after O, at a sentence start, or after another type), else IOB2.

    >>> detect_scheme([["B-PER", "I-PER"]]), detect_scheme([["I-PER", "O"]])
    ('iob2', 'iob1')
    """
    iob1 = False
    for tags in sentences:
        prev = "O"
        for tag in tags:
            prefix, kind = split_tag(tag)
            if prefix in ("E", "S"):
                return "iobes"
            if prefix == "I" and (prev == "O" or split_tag(prev)[1] != kind):
                iob1 = True
            prev = tag
    return "iob1" if iob1 else "iob2"


def to_iob2(tags: Sequence[str], scheme: str) -> list[str]:
    """``tags`` in ``scheme`` (iob1, iob2 or iobes) as IOB2. An IOB2 or IOBES I- that starts an
    entity is read as its B- (as seqeval and conlleval do).

    >>> to_iob2(["O", "I-LOC", "E-LOC"], "iobes")
    ['O', 'B-LOC', 'I-LOC']
    """
    out: list[str] = []
    prev_kind = ""
    for tag in tags:
        prefix, kind = split_tag(tag)
        if prefix == "O":
            out.append("O")
        elif prefix in ("B", "S") or (prefix in ("I", "E") and kind != prev_kind):
            out.append(f"B-{kind}")
        else:
            out.append(f"I-{kind}")
        # after E- or S- the entity is over (IOBES); otherwise it continues with this type
        prev_kind = "" if prefix in ("O", "E", "S") and scheme == "iobes" else kind
        if prefix == "O":
            prev_kind = ""
    return out


def spans(tags: Sequence[str]) -> list[Span]:
    """The entities of an IOB2 sequence, ``(start, end, type)``; a stray I- starts an entity.

    >>> spans(["O", "I-ORG", "B-PER"])
    [(1, 2, 'ORG'), (2, 3, 'PER')]
    """
    found: list[Span] = []
    start, kind = -1, ""
    for i, tag in enumerate((*tags, "O")):
        prefix, k = split_tag(tag)
        if start >= 0 and (prefix != "I" or k != kind):
            found.append((start, i, kind))
            start = -1
        if prefix in ("B", "S") or (prefix in ("I", "E") and start < 0):
            start, kind = i, k
    return found


def allowed(prev: str, tag: str) -> bool:
    """Whether IOB2 lets ``tag`` follow ``prev`` (``prev`` "O" also stands for the start).

    >>> allowed("I-PER", "I-PER"), allowed("O", "B-LOC")
    (True, True)
    """
    prefix, kind = split_tag(tag)
    return prefix != "I" or prev in (f"B-{kind}", f"I-{kind}")
