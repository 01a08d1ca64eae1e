"""Reading a Keras model file with h5py alone: ``read_model(path)`` -> ``Chain``.

Two formats: the ``.keras`` zip of Keras 3 (config.json + model.weights.h5, whose weights are
stored under paths made from each layer's *class* name in model order: ``layers/lstm``,
``layers/lstm_1``, nested models under ``layers/sequential/layers/...``), and the legacy
``.h5`` whole-model file (``model_config`` attribute + ``model_weights``, one group per layer
name listing its ``weight_names`` in order). Every problem with the file is a ``ModelError``:
one line, exit 3.

>>> snake("SimpleRNN"), snake("BatchNormalization"), snake("LSTM")
('simple_rnn', 'batch_normalization', 'lstm')
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edgernn.errors import ModelError
from edgernn.train.keras.layers import Chain, Layer, parse_layer, weight_count

MODELS = ("Sequential", "Functional", "Model")
FORMATS = "a Keras 3 .keras file (model.save('model.keras')) or a legacy .h5 whole model"


def snake(name: str) -> str:
    """Keras' ``to_snake_case``: how a class name becomes a weights path."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def read_model(path: str | Path) -> Chain:
    """The model in ``path`` (.keras or legacy .h5) as a chain of layers with their weights."""
    import h5py  # the keras extra

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{str(path)!r} is not a file; pass the path of {FORMATS}")
    head = path.read_bytes()[:8]
    if head.startswith(b"PK"):
        return _read_zip(path, h5py)
    if head.startswith(b"\x89HDF"):
        return _read_h5(path, h5py)
    raise ModelError(f"{str(path)!r} is neither a zip nor an HDF5 file; pass {FORMATS}")


def _read_zip(path: Path, h5py: Any) -> Chain:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            missing = [n for n in ("config.json", "model.weights.h5") if n not in names]
            if missing:
                raise ModelError(
                    f"{path.name} lacks {' and '.join(missing)}; it is not a complete Keras 3 "
                    "model: save it again with model.save('model.keras')"
                )
            config = json.loads(z.read("config.json"))
            meta = json.loads(z.read("metadata.json")) if "metadata.json" in names else {}
            weights = z.read("model.weights.h5")
    except (zipfile.BadZipFile, json.JSONDecodeError, OSError, EOFError) as e:
        raise ModelError(f"{path.name} is not a readable Keras zip ({e}); save it again") from e
    try:
        store = h5py.File(io.BytesIO(weights), "r")
    except OSError as e:
        raise ModelError(
            f"{path.name}: its model.weights.h5 is unreadable ({str(e).split(';')[0]}); the file "
            "is truncated or corrupt: save the model again"
        ) from e
    with store:
        layers, shape = _walk(config, _ZipWeights(store, path.name), "")
    source = {"format": "keras", "file": path.name, "keras_version": meta.get("keras_version")}
    return Chain(tuple(layers), shape, source)


def _read_h5(path: Path, h5py: Any) -> Chain:
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ModelError(
            f"{path.name} is an unreadable HDF5 file ({str(e).split(';')[0]}); it is truncated or "
            "corrupt: save the model again"
        ) from e
    with f:
        if "model_config" not in f.attrs or "model_weights" not in f:
            raise ModelError(
                f"{path.name} holds weights only (no model_config); pass {FORMATS}, saved with "
                "model.save(), not save_weights()"
            )
        raw = f.attrs["model_config"]
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        version = f.attrs.get("keras_version", b"")
        try:
            layers, shape = _walk(config, _H5Weights(f["model_weights"], path.name), "")
        except (KeyError, OSError) as e:
            raise ModelError(
                f"{path.name}: a layer's weights cannot be read ({e}); the file is truncated or "
                "was not written by model.save(): save it again"
            ) from e
    version = version.decode() if isinstance(version, bytes) else str(version)
    return Chain(
        tuple(layers), shape, {"format": "h5", "file": path.name, "keras_version": version}
    )


class _ZipWeights:
    """Weights of a .keras file: found by the class-name paths Keras 3 writes."""

    def __init__(self, store: Any, file: str):
        self.store, self.file = store, file

    def arrays(
        self, where: str, layer: Layer, class_name: str, config: dict[str, Any]
    ) -> tuple[tuple[np.ndarray, ...], ...]:
        """The layer's arrays (a Bidirectional's: forward, backward); ``config`` its own."""
        if class_name == "Bidirectional":
            return (
                self._vars(f"{where}/forward_layer/cell", layer),
                self._vars(f"{where}/backward_layer/cell", layer),
            )
        sub = f"{where}/cell" if layer.recurrent else where
        return (self._vars(sub, layer),)

    def _vars(self, where: str, layer: Layer) -> tuple[np.ndarray, ...]:
        group = self.store.get(f"{where}/vars")
        if group is None:
            raise ModelError(
                f"{self.file}: no weights for layer {layer.name!r} (expected at {where}/vars); "
                "the weights file does not match its config: save the model again"
            )
        try:
            return tuple(np.asarray(group[str(i)], dtype=np.float64) for i in range(len(group)))
        except (KeyError, OSError) as e:
            raise ModelError(
                f"{self.file}: the weights of layer {layer.name!r} cannot be read ({e}); the file "
                "is truncated or corrupt: save the model again"
            ) from e


class _H5Weights:
    """Weights of a legacy .h5 file: one group per top-level layer, arrays in listed order."""

    def __init__(self, group: Any, file: str):
        self.group, self.file = group, file
        self.pending: dict[str, list[np.ndarray]] = {}

    def arrays(
        self, where: str, layer: Layer, class_name: str, config: dict[str, Any]
    ) -> tuple[tuple[np.ndarray, ...], ...]:
        """The layer's arrays (a Bidirectional's: forward, backward); ``config`` its own."""
        top = where.split("/")[0]
        if top not in self.pending:
            if top not in self.group:
                raise ModelError(
                    f"{self.file}: no weights for layer {top!r}; the file does not match its "
                    "config: save the model again"
                )
            g = self.group[top]
            names = [
                n.decode() if isinstance(n, bytes) else str(n) for n in g.attrs["weight_names"]
            ]
            self.pending[top] = [np.asarray(g[n], dtype=np.float64) for n in names]
        queue = self.pending[top]
        count = weight_count(class_name, config)
        if len(queue) < count:
            raise ModelError(
                f"{self.file}: layer {layer.name!r} has {len(queue)} weight arrays, not {count}; "
                "save the model again"
            )
        taken = [queue.pop(0) for _ in range(count)]
        if class_name == "Bidirectional":
            half = count // 2
            return tuple(taken[:half]), tuple(taken[half:])
        return (tuple(taken),)


def _walk(
    config: dict[str, Any], weights: Any, where: str
) -> tuple[list[Layer], tuple[int | None, ...]]:
    """The layers of a (nested) model config in order, with their weights, and its batch shape."""
    if config.get("class_name") not in MODELS:
        raise ModelError(
            f"the file holds a {config.get('class_name')!r}, not a model; pass {FORMATS}"
        )
    body = config.get("config", {})
    entries = body.get("layers", [])
    if config["class_name"] != "Sequential":
        _check_chain(entries)
    shape: tuple[int | None, ...] = ()
    layers: list[Layer] = []
    used: dict[str, int] = {}
    for entry in entries:
        class_name, cfg = entry.get("class_name", ""), entry.get("config", {})
        name = snake(class_name)
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        legacy = isinstance(weights, _H5Weights)
        # legacy .h5: every weight of a top-level layer (a nested model's too) in its group
        path = (where or str(cfg.get("name", name))) if legacy else f"{where}layers/{name}"
        if class_name == "InputLayer":
            shape = shape or _batch_shape(cfg)
            continue
        if class_name in MODELS:
            inner, inner_shape = _walk(entry, weights, path if legacy else f"{path}/")
            layers += inner
            shape = shape or inner_shape
            continue
        layer = parse_layer(class_name, cfg)
        shape = shape or _batch_shape(cfg) or _batch_shape(entry.get("build_config", {}))
        if layer.kind == "noop":
            continue
        if weight_count(class_name, cfg):
            found = weights.arrays(path, layer, class_name, cfg)
            layer = Layer(
                layer.kind,
                layer.name,
                layer.config,
                found[0],
                found[1] if len(found) > 1 else (),
                layer.cell,
            )
            _check_weights(layer, class_name, cfg, weights.file)
        layers.append(layer)
    return layers, shape


def _batch_shape(cfg: dict[str, Any]) -> tuple[int | None, ...]:
    for key in ("batch_shape", "batch_input_shape"):
        if cfg.get(key):
            return tuple(cfg[key])
    if cfg.get("input_shape"):
        return tuple(cfg["input_shape"])
    return ()


def _check_chain(entries: list[dict[str, Any]]) -> None:
    """A Functional model must be a chain: each layer reads the one before it."""
    previous = None
    for entry in entries:
        text = json.dumps(entry.get("inbound_nodes", []))
        sources = re.findall(r'"keras_history": \["([^"]+)"', text)
        sources += re.findall(r'\[\["([^"]+)", \d+, \d+', text)  # older Keras' nested lists
        name = entry.get("name") or entry.get("config", {}).get("name")
        if previous is not None and sources != [previous]:
            raise ModelError(
                f"layer {name!r} ({entry.get('class_name')}) reads {sources or 'nothing'}, not "
                f"just {previous!r}; edgernn imports models whose layers form one chain"
            )
        previous = name


def _check_weights(layer: Layer, class_name: str, cfg: dict[str, Any], file: str) -> None:
    """The weights have the shapes the config implies (a mismatched file is caught here)."""
    units = layer.units
    gates = {"rnn": 1, "lstm": 4, "gru": 3}.get(layer.recurrent, 0)
    for arrays in (layer.weights, layer.backward) if layer.backward else (layer.weights,):
        if gates:
            want = gates * units
            bad = (
                arrays[0].ndim != 2
                or arrays[0].shape[1] != want
                or arrays[1].shape != (units, want)
            )
        elif layer.kind == "dense":
            bad = arrays[0].ndim != 2 or arrays[0].shape[1] != units
        else:
            bad = False
        if bad:
            raise ModelError(
                f"{file}: the weights of layer {layer.name!r} ({class_name}) have shapes "
                f"{[a.shape for a in arrays]}, not what its config says; save the model again"
            )
