"""What one stream-step costs: FLOPs per recurrent layer and head, read off a model's signature.

See ``edgernn.bench.run`` for what the counts include and leave out.
"""

from __future__ import annotations

from typing import Any

from edgernn.signature import Signature
from edgernn.tasks.registry import task_of

GATES = {"rnn": 1, "gru": 3, "lstm": 4}


# ---- what a step costs -----------------------------------------------------------------------
def flops_per_step(sig: Signature) -> int:
    """Matrix-product FLOPs of one stream-step (gates of every layer and the head); see
    ``step_cost``."""
    flops: int = step_cost(sig)["flops"]
    return flops


def step_cost(sig: Signature) -> dict[str, Any]:
    """{flops, nominal, notes}: the matrix-product FLOPs of one stream-step, whether they are
    nominal (an int8 graph: the count is of the float32 products it replaces), and what the
    count assumes or leaves out, one note each."""
    gates = GATES.get(sig.arch, 0)  # "linear": no recurrent layer, the highway alone
    d, hidden = directions(sig), sig.layers[-1] if sig.layers else 0
    recurrent = d * sum(2 * gates * h * (i + h) for i, h in layer_shapes(sig))
    lags = highway_lags(sig)
    attn = attention_width(sig)
    score = 2 * hidden * attn + 2 * attn if attn else 0  # dense H -> A, then the score A -> 1
    # the dense head; with attention it reads [h, context]
    head = 2 * d * hidden * (2 if attn else 1) * head_width(sig)
    steps = 1 if d == 1 else max(int(sig.window), 1)
    notes = []
    if input_width(sig) is None:
        notes.append(
            "excludes layer 0's input projection (the embedding width is not in the signature)"
        )
    if attn:
        notes.append(
            f"attention: score layer {hidden}x{attn} + {attn} counted at its default width "
            "(= hidden)"
        )
    if d == 2:
        notes.append(
            f"window model: one stream-step = a run over the {steps}-step window, "
            "both directions, the head once"
        )
    if lags:
        notes.append(f"the linear highway: {len(lags)} lags per target, a multiply-add each")
    mode = sig.reduction.mode if sig.reduction is not None else ""
    nominal = "int8" in mode
    if nominal:
        notes.append(f"nominal: an {mode} graph; counted as the float32 products it replaces")
    highway = 2 * len(lags) * len(sig.targets)
    flops = steps * (recurrent + score) + head + highway
    return {"flops": flops, "nominal": nominal, "notes": notes}


def highway_lags(sig: Signature) -> list[int]:
    """A forecaster's linear-highway lags (``edgernn.train.forecast.highway``), from its
    provenance; [] without a highway."""
    model = sig.provenance.get("model") or {}
    return list(model.get("highway_lags") or [])


def layer_shapes(sig: Signature) -> list[tuple[int, int]]:
    """(input size, hidden size) of each recurrent layer (one direction). Layer 0's input is 0
    when a text model's embedding width is unknown (its projection is then not counted)."""
    d = directions(sig)
    sizes_in = (input_width(sig) or 0,) + tuple(d * h for h in sig.layers[:-1])
    return list(zip(sizes_in, sig.layers))


def input_width(sig: Signature) -> int | None:
    """Layer 0's input size: the features of sensor inputs, the embedding width of token inputs
    (``signature.embed``), None when the signature does not say."""
    if sig.tokenizer is None:
        return len(sig.features)
    return sig.embed or None


def directions(sig: Signature) -> int:
    """2 for a window (bidirectional, non-causal) model, else 1."""
    return 1 if sig.causal else 2


def attention_width(sig: Signature) -> int | None:
    """The attention score layer's width when the model pools with attention (its default:
    hidden)."""
    return sig.layers[-1] if sig.attention else None


def head_width(sig: Signature) -> int:
    """Outputs of the dense head: labels (classify), vocabulary (generate, seq2seq) or targets,
    as the task registry says."""
    return task_of(sig).head_width(sig)
