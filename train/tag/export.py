"""A tagger to its ONNX graph, verified against PyTorch before it is written.

The graph takes ``words`` (batch, time) and ``chars`` (batch, time, L) int64 and returns
``emissions`` (batch, time, tags); a streaming tagger's also takes and returns its LSTM state
(``state_in.0/1`` -> ``state_out.0/1``) and is checked step by step with the state fed back.
The CRF's transition, start and end scores, the character vocabulary and the tags travel in
the signature (``provenance["tagger"]``, ``labels``, ``tokenizer``), so the runtime decodes
without torch.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

import edgernn
from edgernn.checks import Check
from edgernn.core.model import Model
from edgernn.errors import ExportError
from edgernn.signature import TOLERANCES, Signature, StateSpec, TensorSpec
from edgernn.tasks.tag import Tagger
from edgernn.train.checkpoint import Checkpoint
from edgernn.train.export.checks import VerifyOptions
from edgernn.train.export.config import ExportConfig
from edgernn.train.export.graph import _quiet, _write_verified
from edgernn.train.export.signature import graph_signature
from edgernn.train.tag.model import TagConfig, TagModel

TASK = "tag"
SHAPES = ((1, 1), (1, 9), (3, 6), (2, 40))  # (batch, tokens) the graph is checked at
OPSET = 17  # ONNX opset of the exported graph
NAMES = ("words", "chars", "emissions")


def build(config: dict) -> TagModel:
    """An untrained tagger from a checkpoint's ``model_config`` (CRF constraints come with the
    weights, as buffers)."""
    return TagModel(TagConfig(**config))


def random_ids(model: TagModel, batch: int, length: int, rng: np.random.Generator):
    """Random (B, T) word ids and (B, T, L) char ids, each word 1..L real characters.

    >>> net = build({"vocab_size": 9, "n_chars": 7, "n_tags": 3, "hidden": 4})
    >>> [a.shape for a in random_ids(net, 2, 5, np.random.default_rng(0))]
    [(2, 5), (2, 5, 16)]
    """
    c = model.config
    words = rng.integers(1, c.vocab_size, size=(batch, length))
    chars = rng.integers(1, c.n_chars, size=(batch, length, c.max_chars))
    ends = rng.integers(1, c.max_chars + 1, size=(batch, length, 1))
    chars[np.arange(c.max_chars)[None, None, :] >= ends] = 0
    return words.astype(np.int64), chars.astype(np.int64)


def parity(model: TagModel, session: ort.InferenceSession, seed: int = 0) -> tuple[float, list]:
    """Max abs error of the graph's emissions vs PyTorch over ``SHAPES`` (a streaming graph is
    also stepped token by token with its state fed back); and each shape's error."""
    rng = np.random.default_rng(seed)
    model.eval()
    streaming = not model.config.bidirectional
    h = model.config.hidden
    rows = []
    for b, t in SHAPES:
        words, chars = random_ids(model, b, t, rng)
        with torch.no_grad():
            want = model(torch.from_numpy(words), torch.from_numpy(chars))[0].numpy()
        feeds = {NAMES[0]: words, NAMES[1]: chars}
        if streaming:
            zero = np.zeros((1, b, h), dtype=np.float32)
            feeds.update({"state_in.0": zero, "state_in.1": zero})
        got = session.run([NAMES[2]], feeds)[0]
        err = float(np.abs(got - want).max())
        if streaming:  # one token at a time, state fed back
            state = [np.zeros((1, b, h), dtype=np.float32)] * 2
            steps = []
            for i in range(t):
                feeds = {NAMES[0]: words[:, i : i + 1], NAMES[1]: chars[:, i : i + 1]}
                feeds.update({"state_in.0": state[0], "state_in.1": state[1]})
                y, *state = session.run([NAMES[2], "state_out.0", "state_out.1"], feeds)
                steps.append(y)
            err = max(err, float(np.abs(np.concatenate(steps, axis=1) - want).max()))
        rows.append({"batch": b, "tokens": t, "max_abs_error": err})
    return max(r["max_abs_error"] for r in rows), rows


def export_tagger(model: TagModel, fields: dict, out: str | Path) -> Signature:
    """Export, check the graph against PyTorch (max abs error of the emissions <= 1e-5 at every
    shape, else ExportError and nothing written), write it with its signature, load it back
    with the runtime."""
    model = model.eval()
    c = model.config
    streaming = not c.bidirectional
    states = ("state_in.0", "state_in.1") if streaming else ()
    outs = ("state_out.0", "state_out.1") if streaming else ()
    words, chars = random_ids(model, 2, 5, np.random.default_rng(0))
    example: tuple = (torch.from_numpy(words), torch.from_numpy(chars))
    if streaming:
        example += (torch.zeros(1, 2, c.hidden), torch.zeros(1, 2, c.hidden))
    axes: dict = {n: {0: "batch", 1: "time"} for n in NAMES}
    axes.update({n: {1: "batch"} for n in (*states, *outs)})
    buf = io.BytesIO()
    with _quiet():
        torch.onnx.export(
            model,
            example,
            buf,
            dynamo=False,
            opset_version=OPSET,
            dynamic_axes=axes,
            input_names=[NAMES[0], NAMES[1], *states],
            output_names=[NAMES[2], *outs],
        )
    graph = onnx.load_from_string(buf.getvalue())
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    worst, rows = parity(model, session)
    tol = TOLERANCES.parity
    if not worst <= tol:
        raise ExportError(
            f"export failed: the tagger's ONNX emissions differ from PyTorch by {worst:.1e} > "
            f"{tol:g}; nothing was written to {str(out)!r}"
        )
    crf = model.crf
    tagger = {
        **fields["tagger"],
        "trans": crf.trans.detach().double().numpy().tolist(),
        "start": crf.start.detach().double().numpy().tolist(),
        "end": crf.end.detach().double().numpy().tolist(),
        "max_chars": c.max_chars,
        "streaming": streaming,
    }
    record = {
        "max_abs_error": worst,
        "tolerance": tol,
        "cases": rows,
        "shapes": [list(s) for s in SHAPES],
        "exporter": "torchscript",
        "opset": OPSET,
        "reference_note": "ONNX's reference evaluator is not run on tag graphs",
        "method": "onnxruntime vs PyTorch emissions on random sentences"
        + (", whole and token by token (state fed back)" if streaming else ", whole sentences"),
    }
    spec = (1, "batch", c.hidden)
    signature = graph_signature(
        {**fields, "provenance": {**fields.get("provenance", {}), "tagger": tagger}},
        task=TASK,
        arch="lstm",
        layers=(c.hidden,),
        states=tuple(StateSpec(i, o, spec) for i, o in zip(states, outs)),
        inputs=(
            TensorSpec(NAMES[0], ("batch", "time"), "int64"),
            TensorSpec(NAMES[1], ("batch", "time", c.max_chars), "int64"),
        ),
        outputs=(TensorSpec(NAMES[2], ("batch", "time", c.n_tags)),),
        parity=record,
        causal=streaming,
    )
    _write_verified(graph, signature, Path(out), lambda path, sig: _check(path, sig))
    return signature


def _check(path: Path, signature: Signature) -> None:
    """The runtime loads the file, reads the same signature and builds a Tagger on it."""
    loaded = edgernn.load(path, provider="cpu")
    if loaded.signature != signature:
        raise ExportError(f"{path.name}: the signature read back differs from the one written")
    Tagger(loaded)


def export_checkpoint(ckpt: Checkpoint, out: Path, config: ExportConfig) -> Signature:
    return export_tagger(ckpt.model, ckpt.signature, out)


def verify_tagger(model: Model, ckpt: Checkpoint, options: VerifyOptions) -> list[Check]:
    """Emissions parity against the checkpoint, and the runtime's Viterbi against the CRF's."""
    tol = options.tolerance or TOLERANCES.parity
    worst, rows = parity(ckpt.model, model.session, options.seed)
    checks = [
        Check(
            "emissions == pytorch",
            worst <= tol,
            worst,
            f"{len(rows)} shapes (batch, tokens): "
            + ", ".join(f"({r['batch']}, {r['tokens']})" for r in rows),
        )
    ]
    tagger = Tagger(model)
    rng = np.random.default_rng(options.seed)
    k = len(tagger.labels)
    emit = torch.from_numpy(rng.normal(0, 3, size=(2000, 8, k)))
    mask = torch.ones(2000, 8, dtype=torch.bool)
    crf = ckpt.model.crf.double()
    want = crf.decode(emit, mask)
    got = [[tagger.labels.index(t) for t in tagger.decode(e.numpy())] for e in emit]
    same = sum(a == b for a, b in zip(want, got))
    crf.float()
    checks.append(
        Check("viterbi == pytorch", same == len(want), None, f"{same}/{len(want)} random paths")
    )
    return checks
