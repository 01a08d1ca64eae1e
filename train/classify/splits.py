"""Which sequences train, validate and test a classifier: stratified and seeded, never leaving a
class out of validation (or test) while it has sequences to spare.

- drawn: ``split_indices`` cuts each class's shuffled sequences into train / val / test;
- given: ``given_split`` honours a data set's own split (``--split-column``, ``--test-data``),
  drawing validation from its training part when it names none;
- k-fold: ``stratified_folds`` deals each class's shuffled sequences round-robin into K folds.

>>> y = np.array([0] * 6 + [1] * 3)
>>> train, val, test = split_indices(y, 0.1, 0.1, seed=0)
>>> sorted(y[val].tolist()), sorted(y[test].tolist())  # 10% of 3 still gives class 1 one each
([0, 1], [0, 1])
>>> [sorted(y[f].tolist()) for f in stratified_folds(y, 3, seed=0)]
[[0, 0, 1], [0, 0, 1], [0, 0, 1]]
"""

from __future__ import annotations

import numpy as np

from edgernn.errors import DataError, UsageError

Indices = tuple[list[int], list[int], list[int]]  # train, val, test


def _cut(n: int, val_frac: float, test_frac: float) -> tuple[int, int]:
    """(test, val) counts of a class of ``n``: rounded shares, at least one each while the
    class keeps a training sequence."""
    n_test, n_val = round(n * test_frac), round(n * val_frac)
    if test_frac > 0 and n_test == 0 and n >= 3:
        n_test = 1
    if val_frac > 0 and n_val == 0 and n - n_test >= 2:
        n_val = 1
    while n_test + n_val >= n and (n_test or n_val):  # keep one to train on
        if n_test >= n_val and n_test:
            n_test -= 1
        else:
            n_val -= 1
    return n_test, n_val


def split_indices(y: np.ndarray, val_frac: float, test_frac: float, seed: int) -> Indices:
    """Seeded shuffle of the sequences of each class, cut into train / val / test (stratified)."""
    _check_fracs(val_frac, test_frac)
    rng = np.random.default_rng(seed)
    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c)).tolist()
        n_test, n_val = _cut(len(idx), val_frac, test_frac)
        test += idx[:n_test]
        val += idx[n_test : n_test + n_val]
        train += idx[n_test + n_val :]
    if not train:
        raise DataError(
            "no training sequences are left after the val/test split; use more data or smaller "
            "--val/--test"
        )
    return sorted(train), sorted(val), sorted(test)


def _check_fracs(val_frac: float, test_frac: float) -> None:
    if not (0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1):
        raise UsageError(
            f"--val {val_frac} and --test {test_frac} must be in [0, 1) and leave some training "
            "data"
        )


def given_split(split: list[str], y: np.ndarray, val_frac: float, seed: int) -> Indices:
    """The data's own split; without "val" sequences, validation is drawn (stratified) from its
    training sequences."""
    train = [i for i, s in enumerate(split) if s == "train"]
    val = [i for i, s in enumerate(split) if s == "val"]
    test = [i for i, s in enumerate(split) if s == "test"]
    if not train:
        raise DataError("the given split has no training sequences (no 'train' value)")
    if not val and val_frac > 0:
        sub_train, sub_val, _ = split_indices(y[train], val_frac, 0.0, seed)
        train, val = [train[i] for i in sub_train], [train[i] for i in sub_val]
    return sorted(train), sorted(val), sorted(test)


def stratified_folds(y: np.ndarray, k: int, seed: int) -> list[list[int]]:
    """K test folds: each class's shuffled sequences dealt round-robin, so every fold holds
    about 1/K of every class (classes smaller than K are missing from some folds)."""
    if k < 2 or k > len(y):
        raise UsageError(
            f"--folds must be between 2 and the number of sequences ({len(y)}), got {k}"
        )
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    start = 0
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c)).tolist()
        for j, i in enumerate(idx):
            folds[(start + j) % k].append(i)
        start += len(idx)  # the next class starts where this one left off: even fold sizes
    return [sorted(f) for f in folds]


def fold_indices(
    y: np.ndarray, folds: list[list[int]], f: int, val_frac: float, seed: int
) -> Indices:
    """Fold ``f`` tests; validation is drawn (stratified) from the other folds, the rest train."""
    test = folds[f]
    rest = sorted(i for g, fold in enumerate(folds) if g != f for i in fold)
    sub_train, sub_val, _ = split_indices(y[rest], val_frac, 0.0, seed)
    return sorted(rest[i] for i in sub_train), sorted(rest[i] for i in sub_val), test
