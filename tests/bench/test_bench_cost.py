"""What ``edgernn bench`` counts as one stream-step's FLOPs, read off hand-made signatures."""

from __future__ import annotations

from edgernn.bench import cost as bench_cost
from edgernn.signature import Reduction, Scaler, Signature, Tokenizer


def sig_of(**kw) -> Signature:
    base = {
        "task": "forecast",
        "arch": "lstm",
        "layers": (16, 8),
        "features": ("a", "b"),
        "targets": ("t",),
        "states": (),
    }
    sig = {**base, **kw}
    return Signature(
        **sig,
        input_scaler=Scaler.identity(len(sig["features"])),
        target_scaler=Scaler.identity(len(sig["targets"])),
    )


def test_flops_count_the_matrix_products():
    sig = sig_of(arch="lstm", layers=(64, 64), features=("a", "b"), targets=("t",))
    assert (
        bench_cost.flops_per_step(sig)
        == 2 * 4 * 64 * (2 + 64) + 2 * 4 * 64 * (64 + 64) + 2 * 64 * 1
    )
    gru = sig_of(arch="gru", layers=(32,), features=("a",), targets=("t", "u"))
    assert bench_cost.flops_per_step(gru) == 2 * 3 * 32 * 33 + 2 * 32 * 2


def test_flops_of_text_models_use_the_embedding_and_the_vocabulary_or_say_what_they_leave_out():
    vocab = Tokenizer("char", tuple("abcdefghij"))
    lm = sig_of(task="generate", features=(), targets=(), tokenizer=vocab, embed=6)
    cost = bench_cost.step_cost(lm)
    assert (
        cost["flops"] == 2 * 4 * 16 * (6 + 16) + 2 * 4 * 8 * (16 + 8) + 2 * 8 * 10
        and cost["notes"] == []
    )
    clf = sig_of(
        task="classify",
        arch="gru",
        layers=(8,),
        features=(),
        targets=(),
        labels=("x", "y", "z"),
        tokenizer=vocab,
    )
    cost = bench_cost.step_cost(clf)
    assert (
        cost["flops"] == 2 * 3 * 8 * (0 + 8) + 2 * 8 * 3 and "input projection" in cost["notes"][0]
    )


def test_flops_of_window_attention_and_int8_models():
    # both directions over 12 steps; layer 1 reads 2 x 16; the head reads 2 x 8, once
    bi = sig_of(causal=False, window=12)
    assert (
        bench_cost.flops_per_step(bi)
        == 12 * 2 * (2 * 4 * 16 * (2 + 16) + 2 * 4 * 8 * (32 + 8)) + 2 * 16 * 1
    )
    attn = sig_of(attention=True)  # score layer 8x8 + 8; the head reads [h, context]
    cost = bench_cost.step_cost(attn)
    assert (
        cost["flops"]
        == 2 * 4 * 16 * (2 + 16) + 2 * 4 * 8 * (16 + 8) + (2 * 8 * 8 + 2 * 8) + 2 * 16 * 1
    )
    assert "attention" in cost["notes"][0]
    int8 = bench_cost.step_cost(sig_of(reduction=Reduction("int8-dynamic", "cpu", 0.02)))
    assert int8["nominal"] is True and "nominal" in int8["notes"][-1]
    assert bench_cost.step_cost(sig_of())["nominal"] is False
