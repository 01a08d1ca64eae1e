"""Viterbi decoding of a linear-chain CRF in numpy: over a whole sentence, and with a fixed lag
for tokens that arrive one at a time.

A CRF scores a tag path ``y`` as ``start[y0] + sum_t emit[t, y_t] + sum_t trans[y_{t-1}, y_t] +
end[y_last]``. The scheme's forbidden moves (``I-PER`` after ``O``) carry a large negative
transition (``FORBIDDEN``), so no decoded path takes one.

>>> import numpy as np
>>> emit = np.array([[0.0, 2.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)  # (T, K)
>>> trans = np.array([[0.0, 0.0], [-5.0, 0.0]], dtype=np.float32)  # (K, K) from -> to
>>> viterbi(emit, trans, np.zeros(2), np.zeros(2))
[1, 1, 1]
>>> lag = FixedLagViterbi(trans, np.zeros(2), np.zeros(2), lag=1)
>>> [lag.push(e) for e in emit], lag.flush()
([[], [1], [1]], [1])
"""

from __future__ import annotations

import numpy as np

FORBIDDEN = -10000.0  # the transition score of a move the tag scheme does not allow


def viterbi(
    emissions: np.ndarray, trans: np.ndarray, start: np.ndarray, end: np.ndarray
) -> list[int]:
    """The best tag path of ``emissions`` (T, K) under ``trans`` (K, K: from, to), ``start``
    (K,) and ``end`` (K,); [] for T = 0. Ties go to the lower tag id, as in the torch CRF.

    >>> viterbi(np.eye(2), np.zeros((2, 2)), np.zeros(2), np.zeros(2))
    [0, 1]
    """
    n = emissions.shape[0]
    if n == 0:
        return []
    score = start + emissions[0]  # (K,) best score of a path ending in each tag
    back = np.zeros(emissions.shape, dtype=np.int64)  # (T, K) best previous tag
    for t in range(1, n):
        total = score[:, None] + trans  # (K from, K to)
        back[t] = total.argmax(axis=0)
        score = total.max(axis=0) + emissions[t]
    best = int((score + end).argmax())
    path = [best]
    for t in range(n - 1, 0, -1):
        best = int(back[t, best])
        path.append(best)
    return path[::-1]


class FixedLagViterbi:
    """Tags tokens as their emissions arrive: each ``push`` returns the tags made final by it,
    the tag of the token ``lag`` positions back (none while the first ``lag`` tokens arrive);
    ``flush`` ends the sentence and returns the rest. A final tag is the one on the best path
    so far (no end score yet); later decisions are held to every tag already given, so the
    tags given never break the scheme. ``lag`` 0 decides each token as it arrives.

    >>> dec = FixedLagViterbi(np.zeros((2, 2)), np.zeros(2), np.zeros(2), lag=0)
    >>> dec.push(np.array([0.0, 1.0])), dec.push(np.array([1.0, 0.0])), dec.flush()
    ([1], [0], [])
    """

    def __init__(self, trans: np.ndarray, start: np.ndarray, end: np.ndarray, lag: int):
        if lag < 0:
            from edgernn.errors import UsageError

            raise UsageError(f"--lag must be 0 or more, got {lag}")
        self.trans, self.start, self.end, self.lag = trans, start, end, lag
        self.reset()

    def reset(self) -> None:
        """Start a new sentence."""
        self._pending: list[np.ndarray] = []  # emissions (K,) of the tokens not yet final
        self._last: int | None = None  # the last final tag (None at the sentence start)

    def _decode(self, end: np.ndarray | None) -> list[int]:
        """The best path over the pending tokens, held to the last final tag."""
        k = self.trans.shape[0]
        emit = np.stack(self._pending)  # (P, K)
        first = self.start if self._last is None else self.trans[self._last]
        return viterbi(emit, self.trans, first, np.zeros(k) if end is None else end)

    def push(self, emission: np.ndarray) -> list[int]:
        """Add one token's emissions (K,); the tags this makes final (0 or 1 of them)."""
        self._pending.append(np.asarray(emission, dtype=np.float64))
        if len(self._pending) <= self.lag:
            return []
        tag = self._decode(None)[0]
        self._last = tag
        self._pending.pop(0)
        return [tag]

    def flush(self) -> list[int]:
        """End the sentence: the tags of the tokens still pending (end scores included)."""
        tags = self._decode(self.end) if self._pending else []
        self.reset()
        return tags
