"""A seq2seq model to its two graphs, and their checks against a checkpoint.

``model.onnx`` is the decoder *step* graph (task "seq2seq": tokens (B, T) int64 + (h, c) ->
logits (B, T, V) + (h, c)); ``model.encoder.onnx`` next to it takes tokens (B, T) + zero (h, c)
-> hidden (B, T, H) + final (h, c). The decoder's signature names the encoder file
(``provenance["encoder"]``) and the special tokens (``provenance["special"]``).

>>> encoder_path("runs/s2s/model.onnx").name
'model.encoder.onnx'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

from edgernn.checks import Check
from edgernn.core.model import Model
from edgernn.signature import Signature, StateSpec, TensorSpec
from edgernn.tasks.seq2seq import Seq2Seq
from edgernn.train.checkpoint import Checkpoint
from edgernn.train.export.checks import (
    CaseMaker,
    Graph,
    VerifyOptions,
    checkpoint_facts,
    ids,
    module_checks,
)
from edgernn.train.export.config import ExportConfig
from edgernn.train.export.graph import Describe, export_module
from edgernn.train.export.parity import BATCH, TIME, GraphNames, input_maker, torch_runner
from edgernn.train.export.signature import graph_signature
from edgernn.train.seq2seq.model import BOS, EOS, UNK, Seq2SeqConfig, Seq2SeqNet

TASK = "seq2seq"


def build(config: dict) -> Seq2SeqNet:
    """An untrained seq2seq net from a checkpoint's ``model_config``."""
    return Seq2SeqNet(Seq2SeqConfig(**config))


def encoder_path(decoder_path: str | Path) -> Path:
    """``model.onnx`` -> ``model.encoder.onnx`` (same folder)."""
    p = Path(decoder_path)
    return p.with_name(p.stem + ".encoder" + (p.suffix or ".onnx"))


def export_seq2seq(net: Seq2SeqNet, fields: dict, out: str | Path) -> tuple[Signature, Signature]:
    """Write the decoder step graph to ``out`` and the encoder graph next to it; (decoder,
    encoder) signatures."""
    out = Path(out)
    enc_out = encoder_path(out)
    encoder, decoder = net.eval().graphs()
    # Verified up to the longest training line (at least 12 steps): an LSTM's cell state grows
    # with the line (|c| ~ 40 after 50 random tokens on synth:reverse), where float32 rounding
    # alone puts ORT 1.5e-5-2.7e-5 off PyTorch in absolute terms; within the trained lengths it
    # is < 1e-5.
    data = fields.get("provenance", {}).get("data", {})
    src_len = max(12, int(data.get("max_source_len", 50)))
    tgt_len = max(12, int(data.get("max_target_len", 50)) + 1)
    enc_cfg = ExportConfig.for_logits(
        output_name="hidden", verify_shapes=((1, 1), (1, src_len), (4, 7))
    )
    dec_cfg = ExportConfig.for_logits(verify_shapes=((1, 1), (1, tgt_len), (4, 7)))
    hidden, vocab = net.config.hidden, net.config.vocab_size
    enc_sig = export_module(
        encoder,
        enc_out,
        enc_cfg,
        _describe(fields, hidden, "encoder", hidden, {"decoder": out.name}),
    )
    dec_sig = export_module(
        decoder,
        out,
        dec_cfg,
        _describe(fields, hidden, "decoder", vocab, {"encoder": enc_out.name}),
    )
    return dec_sig, enc_sig


def _describe(fields: dict, hidden: int, role: str, width: int, extra: dict) -> Describe:
    """The signature of the ``role`` graph of an LSTM of ``hidden``, whose output is (batch,
    time, ``width``)."""

    def describe(names: GraphNames, states: tuple[StateSpec, ...], parity: dict) -> Signature:
        return graph_signature(
            fields,
            task=TASK,
            arch="lstm",
            layers=(hidden,),
            states=states,
            inputs=(TensorSpec(names.input, (BATCH, TIME), "int64"),),
            outputs=(TensorSpec(names.output, (BATCH, TIME, width)),),
            parity=parity,
            provenance={"role": role, **extra, "special": {"bos": BOS, "eos": EOS, "pad": UNK}},
        )

    return describe


def export_checkpoint(ckpt: Checkpoint, out: Path, config: ExportConfig) -> Signature:
    """The decoder's signature (the encoder is written next to it)."""
    return export_seq2seq(ckpt.model, ckpt.signature, out)[0]


# ---- verify --------------------------------------------------------------------------------
def verify_seq2seq(model: Model, ckpt: Checkpoint, options: VerifyOptions) -> list[Check]:
    """Both graphs: the decoder file ``model`` and the encoder graph its signature names
    (``Seq2Seq`` finds it next to the decoder and checks it)."""
    encoder, decoder = ckpt.model.graphs()
    graphs = [
        Graph(Seq2Seq(model).encoder, encoder, "encoder"),
        Graph(model, decoder, "decoder", lambda steps: encoded_cases(encoder, decoder, steps)),
    ]
    cfg = ckpt.model.config

    def facts(role: str) -> dict:
        return checkpoint_facts(TASK, ckpt, cfg.hidden if role == "encoder" else cfg.vocab_size)

    return module_checks(graphs, facts, options)


def encoded_cases(encoder: nn.Module, decoder: nn.Module, steps: int) -> tuple[CaseMaker, str]:
    """A decoder's cases: teacher-forced random target tokens, starting from PyTorch's encoder
    final state on a random source line of ``steps`` tokens (how decoding really starts)."""
    source, target, encode = input_maker(encoder), input_maker(decoder), torch_runner(encoder)

    def make(batch: int, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
        zeros = [
            np.zeros(tuple(batch if a == "batch" else int(a) for a in s), np.float32)
            for s in encoder.state_shapes()
        ]
        _, states = encode(source(batch, steps, rng), zeros)
        return target(batch, steps, rng), [np.ascontiguousarray(s) for s in states]

    how = (
        f"{steps} steps one at a time, state fed back, from PyTorch's encoder state after "
        f"{steps} random source tokens, teacher-forced random tokens{ids(decoder)}"
    )
    return make, how
