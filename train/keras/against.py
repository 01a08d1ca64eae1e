"""An imported graph against Keras itself (Keras installed, any backend): ``verify_keras``,
behind ``edgernn verify MODEL --keras model.keras``.

Three checks, each relative to max(1, max |Keras output|) and held to the import's tolerance:
the whole sequence in one call from a zero state; a long stateful run, one step per call, on a
stateful twin of the Keras model (its config with ``stateful=True`` and a one-step batch shape,
the original's weights) with ``reset_states()`` half way, as a Keras user steps a model; and,
for a window (Bidirectional) model, whole windows. A classifier's or generator's graph puts
out logits: their softmax is compared with Keras' probabilities.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np

from edgernn.checks import Check, VerifyReport
from edgernn.core.model import Model
from edgernn.errors import ModelError, UsageError
from edgernn.train.keras.convert import TOLERANCE, relative_error

STEPS = 200  # stateful steps, with a reset half way


def load_keras(path: str | Path) -> Any:
    """The Keras model in ``path`` (backend: $KERAS_BACKEND, else torch when installed)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError as e:
        raise UsageError(
            f"--keras compares with Keras itself, which cannot be imported here ({e.name or e} is "
            "missing); pip install keras (and torch or tensorflow for its backend)"
        ) from e
    try:
        return keras.saving.load_model(str(path), compile=False)
    except Exception as e:  # Keras raises anything on a bad file
        reason = " ".join(str(e).split())[:200]
        raise ModelError(
            f"Keras cannot load {str(path)!r} ({reason}); pass the .keras or .h5 the "
            "model was imported from"
        ) from e


def verify_keras(
    m: Model, keras_path: str | Path, *, steps: int = STEPS, seed: int = 0
) -> VerifyReport:
    """The checks above on the loaded model ``m``; ``steps`` stateful steps."""
    original = load_keras(keras_path)
    rng = np.random.default_rng(seed)
    sig = m.signature
    batch = _fixed_batch(original) or 2
    probabilities = sig.task in ("classify", "generate") and _keras_gives_probabilities(original)
    checks = []
    if not sig.causal:
        x = _inputs(m, rng, batch, sig.window)
        want = _as_3d(np.asarray(original.predict_on_batch(x)))[:, -1:]
        got, _ = m.run(x, [])
        checks.append(
            _check(
                "keras windows", got, want, probabilities, f"{batch} windows of {sig.window} steps"
            )
        )
        return VerifyReport(str(m.path), checks, str(keras_path))
    _reset(original)
    length = 30
    x = _inputs(m, rng, batch, length)
    want = _as_3d(np.asarray(original.predict_on_batch(x)))
    got, _ = m.run(x, [s.zeros(batch) for s in sig.states])
    if want.shape[1] == 1 and length > 1:  # Keras returns the last step only
        got = got[:, -1:]
    checks.append(
        _check(
            "keras sequence", got, want, probabilities, f"batch {batch}, {length} steps in one call"
        )
    )
    twin = stateful_twin(original, batch)
    x = _inputs(m, rng, batch, steps)
    states = [s.zeros(batch) for s in sig.states]
    ys, wants = [], []
    _reset(twin)
    for t in range(steps):
        if t == steps // 2:
            _reset(twin)
            states = [s.zeros(batch) for s in sig.states]
        wants.append(_as_3d(np.asarray(twin.predict_on_batch(x[:, t : t + 1]))))
        y, states = m.run(x[:, t : t + 1], states)
        ys.append(y)
    checks.append(
        _check(
            "keras stateful steps",
            np.concatenate(ys, axis=1),
            np.concatenate(wants, axis=1),
            probabilities,
            f"{steps} steps one at a time (stateful=True, predict_on_batch), reset_states() at "
            f"step {steps // 2}",
        )
    )
    return VerifyReport(str(m.path), checks, str(keras_path))


def stateful_twin(model: Any, batch: int) -> Any:
    """The model rebuilt with stateful recurrent layers and a (batch, 1, ...) input, same
    weights: Keras' way of stepping a model one sample per call."""
    import keras

    config = copy.deepcopy(model.get_config())
    _make_stateful(config, batch)
    cls = type(model) if isinstance(model, keras.Sequential) else keras.Model
    twin = cls.from_config(config)
    twin.set_weights(model.get_weights())
    return twin


def _make_stateful(node: Any, batch: int) -> None:
    if isinstance(node, dict):
        node.pop("build_config", None)  # built again from the one-step input shape
        for key in ("batch_shape", "batch_input_shape", "build_input_shape"):
            if isinstance(node.get(key), (list, tuple)) and len(node[key]) >= 2:
                node[key] = (batch, 1, *node[key][2:])
        if "stateful" in node:
            node["stateful"] = True
        for value in node.values():
            _make_stateful(value, batch)
    elif isinstance(node, list):
        for value in node:
            _make_stateful(value, batch)


def _reset(model: Any) -> None:
    for layer in _all_layers(model):
        if getattr(layer, "stateful", False) and hasattr(layer, "reset_states"):
            layer.reset_states()


def _all_layers(model: Any) -> list[Any]:
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        out += _all_layers(layer)
    return out


def _fixed_batch(model: Any) -> int | None:
    shape = getattr(model, "input_shape", None)
    return shape[0] if isinstance(shape, tuple) and isinstance(shape[0], int) else None


def _keras_gives_probabilities(model: Any) -> bool:
    last = model.layers[-1]
    while hasattr(last, "layers") and last.layers:
        last = last.layers[-1]
    name = getattr(getattr(last, "activation", None), "__name__", "")
    return name in ("softmax", "sigmoid")


def _inputs(m: Model, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
    spec = m.signature.inputs[0]
    if spec.dtype == "int64":
        vocab = len(m.signature.tokenizer.vocab) if m.signature.tokenizer else 2
        return rng.integers(0, vocab, (batch, length)).astype(np.int64)
    return rng.normal(0.0, 1.0, (batch, length, int(spec.shape[-1]))).astype(np.float32)


def _as_3d(y: np.ndarray) -> np.ndarray:
    return y[:, None, :] if y.ndim == 2 else y


def _check(name: str, got: np.ndarray, want: np.ndarray, probabilities: bool, what: str) -> Check:
    got = np.asarray(got, dtype=np.float64)
    if probabilities:
        e = np.exp(got - got.max(axis=-1, keepdims=True))
        got = e / e.sum(axis=-1, keepdims=True)  # softmax of the logits
        if want.shape[-1] == 1:  # one sigmoid unit: P(yes)
            got = got[..., 1:]
    error = relative_error(got, np.asarray(want, dtype=np.float64))
    passed = error <= TOLERANCE
    detail = f"{what}: {error:.1e} relative (tolerance {TOLERANCE:.0e})"
    if got.shape != want.shape:
        detail = f"{what}: shapes differ, graph {got.shape} vs Keras {want.shape}"
    return Check(name, passed, error, detail)
