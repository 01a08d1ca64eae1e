"""Entity-level precision, recall and F1 (exact span and type, the CoNLL definition) per type
and micro-averaged, and token accuracy.

>>> gold = [["B-PER", "I-PER", "O", "B-LOC"]]
>>> pred = [["B-PER", "I-PER", "O", "B-ORG"]]
>>> s = scores(gold, pred)
>>> s["micro"]["f1"], s["per_type"]["PER"]["f1"], s["token_accuracy"]
(0.5, 1.0, 0.75)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from edgernn.errors import DataError
from edgernn.tasks.tag_scheme import spans


def _prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float | int]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "support": n_gold}


def scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    """``{"micro": {precision, recall, f1, support}, "per_type": {TYPE: ...},
    "token_accuracy": float, "sentences": n, "tokens": n}`` of IOB2 predictions vs gold.

    >>> scores([["B-LOC", "O"]], [["B-LOC", "B-PER"]])["micro"]["precision"]
    0.5
    """
    if len(gold) != len(pred):
        raise DataError(f"{len(pred)} predicted sentences for {len(gold)} gold ones")
    tp: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    right = total = 0
    for g, p in zip(gold, pred):
        if len(g) != len(p):
            raise DataError(f"a predicted sentence has {len(p)} tags for {len(g)} tokens")
        gs, ps = set(spans(g)), set(spans(p))
        n_gold.update(s[2] for s in gs)
        n_pred.update(s[2] for s in ps)
        tp.update(s[2] for s in gs & ps)
        right += sum(a == b for a, b in zip(g, p))
        total += len(g)
    types = sorted(set(n_gold) | set(n_pred))
    return {
        "micro": _prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values())),
        "per_type": {t: _prf(tp[t], n_pred[t], n_gold[t]) for t in types},
        "token_accuracy": right / total if total else 0.0,
        "sentences": len(gold),
        "tokens": total,
    }
