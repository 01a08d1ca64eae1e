"""Scores in, melodies out: reading MusicXML / MIDI / music21's corpus into event sequences,
with a parse cache, a piece-level train / held-out split and transposition augmentation.

``--data`` is ``corpus:bach`` (every Bach score music21 ships: the 371-odd chorales and a few
more; read offline from the installed package), ``corpus:NAME`` for another composer or
collection in music21's corpus (``corpus:essenFolksong`` for its folk tunes: each ABC file there
is a book of tunes, and each tune is a piece), a folder (searched
recursively for .mid/.midi/.xml/.musicxml/.mxl/.krn/.abc) or one such file.

Each score becomes its **melody**: the part named soprano (or melody, voice), else the first
part with pitched notes (not a drum track), else the whole score; ties merged, the highest note
at each onset, each note cut at the next onset, the gaps rests, durations snapped to the grid
(``edgernn.tasks.music.snap``). A file that cannot be parsed is skipped and counted as corrupt,
one without notes is skipped and counted as empty; the rest train. Parsing costs ~0.4 s a
score, so each score's melody is cached (``$EDGERNN_CACHE_DIR`` or ``~/.cache/edgernn/music``,
keyed by path, size, modification time and the encoding version): a second run does not parse
again.

>>> pieces = [Piece("a", (Note(60, 1.0), Note(62, 0.5))), Piece("b", (Note(67, 2.0),))]
>>> [p.name for p in transposed(pieces, 1)][:3], transposed(pieces, 1)[1].notes[0].pitch
(['a', 'a+1', 'a-1'], 61)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgernn.errors import DataError
from edgernn.tasks.music import BOS, UNK, Note, snap, token_of

ENCODING = 3  # version of the melody extraction: bump it and every cached melody is re-read
SUFFIXES = (".mid", ".midi", ".xml", ".musicxml", ".mxl", ".krn", ".abc")


@dataclass(frozen=True)
class Piece:
    """One score's melody."""

    name: str  # the file's name (a transposed copy adds +k / -k)
    notes: tuple[Note, ...]  # the events, in order


@dataclass
class Scores:
    """What reading ``--data`` found."""

    source: str  # what --data named, as described in the report
    pieces: list[Piece]  # the readable scores with notes, in path order
    corrupt: list[str] = field(default_factory=list)  # "file: why" of each skipped file
    empty: list[str] = field(default_factory=list)  # files without a note
    parsed: int = 0  # scores parsed this run (the rest came from the cache)


def cache_dir() -> Path:
    return Path(os.environ.get("EDGERNN_CACHE_DIR") or Path.home() / ".cache" / "edgernn") / "music"


def score_paths(data: str) -> tuple[list[Path], str]:
    """The score files ``--data`` names, sorted, and a description; DataError when none."""
    if data.startswith("corpus:"):
        name = data.partition(":")[2]
        from music21 import corpus

        paths = sorted(Path(str(p)) for p in corpus.getComposer(name)) or sorted(
            Path(str(p)) for p in corpus.getPaths() if name.lower() in str(p).lower()
        )
        if not paths:
            raise DataError(
                f"--data {data!r}: music21's corpus has no scores for {name!r}; try corpus:bach"
            )
        return paths, f"music21 corpus {name} ({len(paths)} scores)"
    root = Path(data)
    if root.is_file():
        return [root], str(root)
    if not root.is_dir():
        raise DataError(
            f"--data {data!r} does not exist; give a folder of .mid/.musicxml files, one such "
            "file, or corpus:bach"
        )
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not paths:
        raise DataError(
            f"--data {data!r} holds no score files ({', '.join(SUFFIXES)}); add some or use "
            "corpus:bach"
        )
    return paths, f"{root} ({len(paths)} files)"


def read_scores(data: str) -> Scores:
    """Every readable score's melody, from the cache or parsed; DataError when none is left."""
    paths, source = score_paths(data)
    scores = Scores(source, [])
    for path in paths:
        found, why = _cached(path)
        if found is None:
            found, why = melodies_of(path)
            scores.parsed += 1
            _store(path, found, why)
        if why:
            scores.corrupt.append(f"{path.name}: {why}")
        for piece in found:
            if any(n.pitch is not None for n in piece.notes):
                scores.pieces.append(piece)
            else:
                scores.empty.append(piece.name if piece.name != path.stem else path.name)
    if not scores.pieces:
        parts = [f"{len(scores.corrupt)} unreadable"] if scores.corrupt else []
        parts += [f"{len(scores.empty)} without notes"] if scores.empty else []
        example = (scores.corrupt or scores.empty)[0]
        raise DataError(
            f"--data {data!r}: no readable score with notes ({', '.join(parts)}; e.g. "
            f"{example}); give MIDI or MusicXML files that contain a melody"
        )
    return scores


def melodies_of(path: Path) -> tuple[list[Piece], str]:
    """(the melody of each score in the file, "") -- one, or one per tune of a collection
    (an ABC book parses to an Opus: its tunes are named FILE#1, FILE#2, ...) -- or ([], why)
    when music21 cannot read it."""
    from music21 import converter

    try:
        parsed = converter.parse(str(path))
        scores = list(getattr(parsed, "scores", None) or ()) or [parsed]
        named = (
            [path.stem]
            if len(scores) == 1
            else [f"{path.stem}#{i + 1}" for i in range(len(scores))]
        )
        pieces = [Piece(name, tuple(melody(_events(s)))) for name, s in zip(named, scores)]
    except Exception as e:  # music21 raises anything from a bad file: every one is "corrupt"
        return [], f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else 'unreadable'}"
    return pieces, ""


def _events(score: object) -> list[tuple[float, float, int | None]]:
    """(offset, quarters, top pitch or None) of every note, chord and rest of the melody part."""
    flat = _melody_part(score).flatten().stripTies()  # type: ignore[attr-defined]
    return [(float(e.offset), float(e.quarterLength), _top_pitch(e)) for e in flat.notesAndRests]


def _melody_part(score: object) -> object:
    """The part named soprano (or voice / melody), else the first part with pitched notes (a
    MIDI drum track has none), else the score."""
    parts = [p for p in getattr(score, "parts", None) or () if len(p.flatten().pitches)]
    for want in ("soprano", "melody", "voice"):
        named = [p for p in parts if want in str(getattr(p, "partName", "") or "").lower()]
        if named:
            return named[0]
    return parts[0] if parts else score


def _top_pitch(element: object) -> int | None:
    pitches = getattr(element, "pitches", ())
    return max(int(p.midi) for p in pitches) if pitches else None


def melody(events: Iterable[tuple[float, float, int | None]]) -> list[Note]:
    """The top voice of (offset, quarters, pitch or None) events, in quarter notes.

    >>> melody([(0, 1, 60), (0, 1, 64), (1, 2, 62), (2, 1, 65), (4, 1, None), (5, 0.5, 67)])
    [Note(pitch=64, quarters=1.0), Note(pitch=62, quarters=1.0), Note(pitch=65, quarters=1.0), \
Note(pitch=None, quarters=2.0), Note(pitch=67, quarters=0.5)]
    """
    onsets: dict[float, tuple[int, float]] = {}  # offset -> (highest pitch, its length)
    for offset, quarters, pitch in events:
        if pitch is None or quarters <= 0:  # rests come from the gaps; grace notes dropped
            continue
        if offset not in onsets or pitch > onsets[offset][0]:
            onsets[offset] = (pitch, quarters)
    starts = sorted(onsets)
    notes: list[Note] = []
    for i, t in enumerate(starts):
        pitch, quarters = onsets[t]
        nxt = starts[i + 1] if i + 1 < len(starts) else t + quarters
        length = min(quarters, nxt - t)
        notes.append(Note(pitch, snap(length)))
        if nxt - t - length >= 0.125:
            notes.append(Note(None, snap(nxt - t - length)))
    return notes


def _key(path: Path) -> Path:
    st = path.stat()
    raw = f"{ENCODING}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return cache_dir() / f"{hashlib.sha1(raw.encode()).hexdigest()}.json"


def _cached(path: Path) -> tuple[list[Piece] | None, str]:
    try:
        raw = json.loads(_key(path).read_text())
        pieces = [Piece(name, tuple(Note(p, q) for p, q in notes)) for name, notes in raw["pieces"]]
        return pieces, str(raw["error"])
    except (OSError, ValueError, KeyError, TypeError):  # none yet, or unreadable: parse again
        return None, ""


def _store(path: Path, pieces: list[Piece], why: str) -> None:
    try:
        target = _key(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        found = [[p.name, [[n.pitch, n.quarters] for n in p.notes]] for p in pieces]
        tmp.write_text(json.dumps({"pieces": found, "error": why}))
        tmp.replace(target)
    except OSError:
        pass  # an unwritable cache only costs time


def split(pieces: Sequence[Piece], val_frac: float, seed: int) -> tuple[list[Piece], list[Piece]]:
    """(train, held out): a seeded shuffle of whole pieces, at least one on each side."""
    if len(pieces) < 2:
        raise DataError(
            f"found {len(pieces)} score with notes; training needs at least 2 (one is held out)"
        )
    order = np.random.default_rng(seed).permutation(len(pieces))
    n_val = min(len(pieces) - 1, max(1, round(len(pieces) * val_frac)))
    val = {int(i) for i in order[:n_val]}
    return [p for i, p in enumerate(pieces) if i not in val], [
        p for i, p in enumerate(pieces) if i in val
    ]


def transposed(pieces: Sequence[Piece], semitones: int) -> list[Piece]:
    """Each piece, then its copies shifted by +1, -1, ..., +k, -k semitones (notes kept
    within MIDI's 0-127)."""
    out = []
    for p in pieces:
        out.append(p)
        for k in (s for m in range(1, semitones + 1) for s in (m, -m)):
            notes = tuple(
                Note(None if n.pitch is None else n.pitch + k, n.quarters) for n in p.notes
            )
            if all(n.pitch is None or 0 <= n.pitch <= 127 for n in notes):
                out.append(Piece(f"{p.name}{k:+d}", notes))
    return out


def vocabulary(pieces: Sequence[Piece], max_vocab: int) -> tuple[str, ...]:
    """<unk>, <bos>, then the ``max_vocab`` most frequent events (ties: first seen)."""
    counts = Counter(token_of(n) for p in pieces for n in p.notes)
    return (UNK, BOS, *(t for t, _ in counts.most_common(max_vocab)))


def encode(pieces: Sequence[Piece], vocab: Sequence[str]) -> np.ndarray:
    """All pieces as one id sequence (N,) int64, each starting with <bos>."""
    ids = {t: i for i, t in enumerate(vocab)}
    out = []
    for p in pieces:
        out.append(ids[BOS])
        out += [ids.get(token_of(n), ids[UNK]) for n in p.notes]
    return np.array(out, dtype=np.int64)
