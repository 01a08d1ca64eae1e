"""Objective statistics of melodies, to hold generated music against the music it learnt from.

- **key**: Krumhansl-Schmuckler key finding: the major or minor key whose profile (Krumhansl
  and Kessler's probe-tone ratings) correlates best with the piece's duration-weighted
  pitch-class histogram;
- **in-key fraction**: the share of notes whose pitch class is in that key's scale (natural
  minor plus the raised 6th and 7th for a minor key);
- **tonic-relative pitch-class histogram**: pitch classes counted from each piece's own tonic,
  so pieces in different keys (and transposed training data) compare;
- **duration histogram** over the duration grid; histograms are compared by total variation
  distance (half the L1 distance: 0 = the same, 1 = disjoint).

>>> scale = [Note(p, 1.0) for p in (60, 62, 64, 65, 67, 69, 71, 72)]
>>> key_of(scale), in_key_fraction(scale)
((0, 'major'), 1.0)
>>> s = melody_stats([scale]); s["pitch_range"], s["notes"]
([60, 72], 8)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edgernn.tasks.music import DURATIONS, Note

MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 9, 10, 11)}


def _pitch_classes(notes: Sequence[Note]) -> np.ndarray:
    """Duration-weighted pitch-class histogram (12,), not normalised."""
    h = np.zeros(12)
    for n in notes:
        if n.pitch is not None:
            h[n.pitch % 12] += n.quarters
    return h


def key_of(notes: Sequence[Note]) -> tuple[int, str]:
    """(tonic pitch class, "major" | "minor") by Krumhansl-Schmuckler; (0, "major") without
    notes."""
    h = _pitch_classes(notes)
    if not h.any():
        return 0, "major"
    best = max(
        (
            (float(np.corrcoef(h, np.roll(prof, t))[0, 1]), t, mode)
            for mode, prof in (("major", MAJOR), ("minor", MINOR))
            for t in range(12)
        ),
        key=lambda c: (np.nan_to_num(c[0], nan=-2.0), -c[1]),
    )
    return best[1], best[2]


def in_key_fraction(notes: Sequence[Note]) -> float:
    """Share of the notes (rests aside) in the scale of the piece's estimated key."""
    pitched = [n for n in notes if n.pitch is not None]
    if not pitched:
        return 0.0
    tonic, mode = key_of(pitched)
    scale = {(tonic + d) % 12 for d in SCALES[mode]}
    return sum(n.pitch % 12 in scale for n in pitched if n.pitch is not None) / len(pitched)


def tonic_histogram(notes: Sequence[Note]) -> np.ndarray:
    """Pitch-class counts (12,) from the piece's tonic up (index 0 = the tonic)."""
    tonic, _ = key_of(notes)
    counts = np.zeros(12)
    for n in notes:
        if n.pitch is not None:
            counts[(n.pitch - tonic) % 12] += 1
    return counts


def duration_histogram(notes: Sequence[Note]) -> np.ndarray:
    """Note (not rest) counts (len(DURATIONS),) per grid duration."""
    counts = np.zeros(len(DURATIONS))
    for n in notes:
        if n.pitch is not None and n.quarters in DURATIONS:
            counts[DURATIONS.index(n.quarters)] += 1
    return counts


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total variation distance of two histograms (each normalised): 0 same, 1 disjoint."""
    if not a.sum() or not b.sum():
        return 1.0
    return float(0.5 * np.abs(a / a.sum() - b / b.sum()).sum())


def melody_stats(pieces: Sequence[Sequence[Note]]) -> dict[str, Any]:
    """The statistics of a set of pieces, pooled: histograms (normalised), in-key fraction
    (mean over pieces), range, mean absolute interval, rest share."""
    notes = [n for p in pieces for n in p]
    pitched = [n.pitch for n in notes if n.pitch is not None]
    pcs = sum((tonic_histogram(p) for p in pieces), np.zeros(12))
    durs = sum((duration_histogram(p) for p in pieces), np.zeros(len(DURATIONS)))
    steps = [
        abs(b - a)
        for p in pieces
        for a, b in zip(
            [n.pitch for n in p if n.pitch is not None][:-1],
            [n.pitch for n in p if n.pitch is not None][1:],
        )
    ]
    return {
        "pieces": len(pieces),
        "notes": len(pitched),
        "tonic_pitch_classes": [round(float(x), 4) for x in pcs / max(pcs.sum(), 1)],
        "durations": [round(float(x), 4) for x in durs / max(durs.sum(), 1)],
        "in_key": round(float(np.mean([in_key_fraction(p) for p in pieces])), 4) if pieces else 0.0,
        "pitch_range": [min(pitched), max(pitched)] if pitched else [],
        "mean_interval": round(float(np.mean(steps)), 3) if steps else 0.0,
        "rests": round(sum(n.pitch is None for n in notes) / max(len(notes), 1), 4),
    }


def compare(generated: dict[str, Any], reference: dict[str, Any]) -> dict[str, float]:
    """Distances of two ``melody_stats``: pitch-class and duration histograms (total
    variation), in-key fractions side by side."""
    return {
        "pitch_class_distance": round(
            distance(
                np.array(generated["tonic_pitch_classes"]),
                np.array(reference["tonic_pitch_classes"]),
            ),
            4,
        ),
        "duration_distance": round(
            distance(np.array(generated["durations"]), np.array(reference["durations"])), 4
        ),
        "in_key": generated["in_key"],
        "in_key_reference": reference["in_key"],
    }
