"""``import_keras``: a Keras model file to an edgernn streaming graph, verified, then written.

The graph is checked against ``reference`` (Keras' formulas in numpy) on random inputs and
random initial states, in one chunk and step by step with the state fed back, at several
(batch, length) shapes; over ``TOLERANCE`` (relative: max error / max(1, max |output|))
nothing is written (``ExportError``, exit 7). Then it is written to a temporary file next to
``out``, loaded back with ``edgernn.load``, stepped once more and moved into place.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import edgernn
from edgernn.errors import ExportError, ModelError, UsageError
from edgernn.signature import METADATA_KEY, Scaler, Signature, Tokenizer
from edgernn.train.keras import reference
from edgernn.train.keras.archive import read_model
from edgernn.train.keras.graph import OPSET, Built, build
from edgernn.train.keras.layers import Chain
from edgernn.train.keras.scaling import scalers

TOLERANCE = 1e-5
SHAPES = ((1, 1), (1, 50), (4, 7))  # (batch, length) checked for a causal model
TASKS = ("auto", "forecast", "classify", "generate")


@dataclass(frozen=True)
class Options:
    """What the command's flags say about the model (Keras files do not)."""

    task: str = "auto"  # "auto": from the head (softmax/sigmoid: classify) and the input
    features: tuple[str, ...] = ()  # input column names (default x0, x1, ...)
    targets: tuple[str, ...] = ()  # forecast column names (default y0, y1, ...)
    labels: tuple[str, ...] = ()  # class names (default 0, 1, ...)
    vocab: tuple[str, ...] = ()  # token id -> token, for an Embedding model
    scaler: str = "none"  # "none" | "minmax" | "standard"
    scale_from: str | None = None  # CSV the scalers are fitted on
    scale: str | None = None  # explicit name:a:b,... scales
    window: int = 0  # a window (Bidirectional) model's window length; 0: the model's own


def import_keras(path: str | Path, out: str | Path, options: Options) -> Signature:
    """Read, convert, verify and write; the signature written."""
    out = Path(out)
    if out.is_dir():
        raise UsageError(f"-o {str(out)!r} is a directory; pass a file path such as model.onnx")
    chain = read_model(path)
    if not chain.recurrent:
        raise ModelError(f"{Path(path).name} has no SimpleRNN, LSTM, GRU or Bidirectional layer")
    task = decide_task(chain, options)
    logits = task in ("classify", "generate")
    window = window_of(chain, options)
    built = build(chain, logits=logits, output_name="logits" if logits else "y", window=window)
    parity = check(built, chain, logits, window)
    signature = describe(chain, built, task, options, window, parity)
    write(built.model, signature, out, chain, logits)
    return signature


def decide_task(chain: Chain, options: Options) -> str:
    if options.task not in TASKS:
        raise UsageError(f"--task {options.task!r} is not one of {', '.join(TASKS)}")
    if options.task != "auto":
        task = options.task
    elif chain.tokens:
        task = "classify" if options.labels else "generate"
    else:
        head = chain.layers[-1]
        soft = head.kind in ("dense", "activation") and head.activation in ("softmax", "sigmoid")
        task = "classify" if options.labels or soft else "forecast"
    if task == "generate" and not chain.tokens:
        raise UsageError("--task generate needs a model that starts with an Embedding (token ids)")
    if chain.tokens and not options.vocab:
        raise UsageError(
            f"layer {chain.layers[0].name!r} (Embedding) reads token ids: pass --vocab FILE (a "
            "JSON list of tokens, or one token per line, in id order)"
        )
    if not chain.causal and task != "forecast":
        raise UsageError("a Bidirectional model imports as a forecaster (a window model) only")
    return task


def window_of(chain: Chain, options: Options) -> int:
    """The window length of a window model (0 for a causal one unless the model fixes one)."""
    fixed = chain.input_shape[1] if len(chain.input_shape) > 1 else None
    if options.window:
        return options.window
    if not chain.causal and not fixed:
        name = next(layer.name for layer in chain.layers if layer.kind == "bidirectional")
        raise UsageError(
            f"layer {name!r} (Bidirectional) reads whole windows and the model fixes no length; "
            "pass --window N (the length it was trained on)"
        )
    return int(fixed or 0)


# ---- checking --------------------------------------------------------------------------
def check(built: Built, chain: Chain, logits: bool, window: int) -> dict[str, Any]:
    """The graph against the numpy reference; ``ExportError`` over tolerance."""
    import onnxruntime

    session = onnxruntime.InferenceSession(
        built.model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    rng = np.random.default_rng(0)
    shapes = SHAPES if chain.causal else ((1, window), (4, window))
    worst = worst_abs = 0.0
    for batch, length in shapes:
        x, states = random_case(chain, built, rng, batch, length)
        want, _ = reference.run(chain, x, [s.astype(np.float64) for s in states], logits=logits)
        runs = [run_graph(session, built, x, states)]
        if chain.causal:
            runs.append(run_steps(session, built, x, states))
        for got in runs:
            worst = max(worst, relative_error(got, want))
            if got.shape == want.shape:
                worst_abs = max(worst_abs, float(np.max(np.abs(got - want))))
    if not worst <= TOLERANCE:
        raise ExportError(
            f"import failed: the graph differs from Keras' formulas by {worst:.1e} (relative) > "
            f"{TOLERANCE:.0e}; nothing was written. Please report this model's config"
        )
    return {
        "max_abs_error": worst_abs,
        "max_rel_error": worst,
        "tolerance": TOLERANCE,
        "shapes": [list(s) for s in shapes],
        "exporter": "edgernn import keras",
        "opset": OPSET,
        "method": "onnxruntime, step by step (state fed back) and one chunk, random initial "
        "states, vs edgernn's numpy reference of the Keras layers (float64); error relative to "
        "max(1, max |output|)",
    }


def random_case(
    chain: Chain, built: Built, rng: np.random.Generator, batch: int, length: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Random inputs (B, T, F) or token ids (B, T), and random states (each (1, B, H))."""
    if chain.tokens:
        x = rng.integers(0, chain.layers[0].weights[0].shape[0], (batch, length)).astype(np.int64)
    else:
        x = rng.normal(0.0, 1.0, (batch, length, chain.features)).astype(np.float32)
    states = [
        s.zeros(batch) + rng.normal(0.0, 0.5, s.zeros(batch).shape).astype(np.float32)
        for s in built.states
    ]
    return x, states


def run_graph(
    session: Any, built: Built, x: np.ndarray, states: Sequence[np.ndarray]
) -> np.ndarray:
    feeds = {built.inputs[0].name: x, **{s.input: v for s, v in zip(built.states, states)}}
    return np.asarray(session.run([built.outputs[0].name], feeds)[0])


def run_steps(
    session: Any, built: Built, x: np.ndarray, states: Sequence[np.ndarray]
) -> np.ndarray:
    """One call per step with the state fed back: y (B, T, O)."""
    names = [built.outputs[0].name, *(s.output for s in built.states)]
    state = list(states)
    ys = []
    for t in range(x.shape[1]):
        feeds = {
            built.inputs[0].name: x[:, t : t + 1],
            **{s.input: v for s, v in zip(built.states, state)},
        }
        y, *state = session.run(names, feeds)
        ys.append(y)
    return np.concatenate(ys, axis=1)


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max(1, max |want|); inf when the shapes differ.

    >>> relative_error(np.array([101.0]), np.array([100.0]))
    0.01
    >>> relative_error(np.zeros(2), np.zeros(3))
    inf
    """
    if got.shape != want.shape:
        return float("inf")
    return float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))


# ---- the signature and the file ------------------------------------------------------------
def describe(
    chain: Chain, built: Built, task: str, options: Options, window: int, parity: dict[str, Any]
) -> Signature:
    width = built.outputs[0].shape[-1]
    assert isinstance(width, int)
    features: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    tokenizer = None
    if chain.tokens:
        tokenizer = _tokenizer(chain, options.vocab, width if task == "generate" else None)
    else:
        features = _names(options.features, chain.features, "x", "--features", "inputs")
    if task == "forecast":
        targets = _names(options.targets, width, "y", "--target", "outputs")
    if task == "classify":
        labels = _names(options.labels, width, "", "--labels", "classes")
    if tokenizer is None:
        x_scaler, y_scaler = scalers(
            options.scaler, features, targets, scale_from=options.scale_from, scale=options.scale
        )
    else:
        if options.scaler != "none":
            raise UsageError("--scaler applies to numeric inputs; this model reads token ids")
        x_scaler = y_scaler = Scaler("none", (), ())
    layers = tuple(layer.units for layer in chain.recurrent)
    versions = {"edgernn": edgernn.__version__, **_versions()}
    signature = Signature(
        task=task,
        arch=chain.recurrent[0].recurrent,
        layers=layers,
        features=features,
        targets=targets,
        states=built.states,
        input_scaler=x_scaler,
        target_scaler=y_scaler,
        window=window,
        causal=chain.causal,
        inputs=built.inputs,
        outputs=built.outputs,
        labels=labels,
        tokenizer=tokenizer,
        parity=parity,
        provenance={
            "source": {**chain.source, "layers": [f"{x.name}:{x.kind}" for x in chain.layers]},
            "export": versions,
        },
        tolerance=TOLERANCE,
        embed=int(chain.layers[0].weights[0].shape[1]) if chain.tokens else None,
    )
    return Signature.from_json(signature.to_json())


def _names(given: tuple[str, ...], n: int, stem: str, flag: str, what: str) -> tuple[str, ...]:
    if not given:
        return tuple(f"{stem}{i}" for i in range(n))
    if len(given) != n:
        raise UsageError(
            f"{flag} names {len(given)} ({', '.join(given)}) but the model has {n} {what}; name {n}"
        )
    return tuple(given)


def _tokenizer(chain: Chain, vocab: tuple[str, ...], width: int | None) -> Tokenizer:
    rows = chain.layers[0].weights[0].shape[0]
    if len(vocab) != rows:
        raise UsageError(
            f"--vocab has {len(vocab)} tokens but layer {chain.layers[0].name!r} (Embedding) has "
            f"input_dim {rows}; pass the vocabulary the model was trained with, in id order"
        )
    if width is not None and width != rows:
        raise UsageError(
            f"the model's head has {width} outputs, not one per token ({rows}); a generator "
            "predicts the next token"
        )
    unk = "<unk>" if "<unk>" in vocab else vocab[0]
    kind = "char" if all(len(t) == 1 for t in vocab if t != unk) else "word"
    return Tokenizer(kind, tuple(vocab), unk)


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def write(model: Any, signature: Signature, out: Path, chain: Chain, logits: bool) -> None:
    """Embed the signature, write a temp file, load it back with edgernn, check, move."""
    import onnx

    model.metadata_props.add(key=METADATA_KEY, value=signature.to_json())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    try:
        onnx.save(model, tmp)
        loaded = edgernn.load(tmp, provider="cpu")
        if loaded.signature != signature:
            raise ExportError(
                "import failed: the runtime read back another signature; nothing written"
            )
        rng = np.random.default_rng(1)
        built = Built(model, signature.inputs, signature.outputs, signature.states)
        length = signature.window if not signature.causal else 9
        x, states = random_case(chain, built, rng, 2, length)
        want, _ = reference.run(chain, x, [s.astype(np.float64) for s in states], logits=logits)
        got, _ = loaded.run(x, states)
        if not relative_error(np.asarray(got), want) <= TOLERANCE:
            raise ExportError(
                "import failed: edgernn.load() of the written graph disagrees; nothing written"
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def read_vocab(path: str | Path) -> tuple[str, ...]:
    """A vocabulary file: a JSON list of tokens, or one token per line (id order).

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    ...     _ = f.write('["<unk>", " ", "a"]')
    >>> read_vocab(f.name)
    ('<unk>', ' ', 'a')
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return tuple(line for line in text.split("\n") if line)
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise UsageError(f"--vocab {str(path)!r} is JSON but not a list of strings")
    return tuple(value)
