"""``edgernn import keras MODEL``: a Keras model (.keras or legacy .h5) -> a verified streaming
.onnx. Needs the keras extra (h5py and onnx), never Keras, TensorFlow or torch.

The converter (``edgernn.train.keras``) checks the graph against its own numpy reference of the
Keras layers before it writes anything. Exit codes: 0 written; 2 bad usage or the keras extra is
missing; 3 the file is not a Keras model edgernn can read (not a zip, missing or truncated
weights, an unsupported layer: the line names it); 5 the --scale-from CSV cannot be used; 7 the
graph did not match the reference (nothing written).
"""

from __future__ import annotations

from pathlib import Path

import click

from edgernn.errors import UsageError
from edgernn.tasks.registry import task_of

EXTRA_MODULES = ("h5py", "onnx")


@click.group("import")
def command() -> None:
    """Bring a model trained elsewhere: its stateful streaming graph, verified."""


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


@command.command("keras")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--out",
    "-o",
    default=None,
    type=click.Path(dir_okay=False),
    help="Where to write the .onnx (default: MODEL with .onnx).",
)
@click.option(
    "--task",
    type=click.Choice(["auto", "forecast", "classify", "generate"]),
    default="auto",
    show_default=True,
    help="auto: classify for a softmax/sigmoid head or --labels, generate for an Embedding "
    "model, forecast otherwise.",
)
@click.option("--features", default=None, help="Input column names, comma-separated (x0, ...).")
@click.option("--target", "targets", default=None, help="Forecast column names (y0, ...).")
@click.option("--labels", default=None, help="Class names of a classifier, in output order.")
@click.option(
    "--vocab",
    default=None,
    type=click.Path(dir_okay=False),
    help="Token vocabulary of an Embedding model: a JSON list, or one token per line, id order.",
)
@click.option(
    "--scaler",
    type=click.Choice(["none", "minmax", "standard"]),
    default="none",
    show_default=True,
    help="How the model's inputs and targets were scaled in training.",
)
@click.option(
    "--scale-from",
    default=None,
    type=click.Path(dir_okay=False),
    help="CSV to fit --scaler on (the training data, with the feature and target columns).",
)
@click.option(
    "--scale",
    default=None,
    help="Explicit scales, name:min:max (minmax) or name:mean:std (standard), comma-separated.",
)
@click.option(
    "--window",
    type=click.IntRange(min=0),
    default=0,
    help="Window length of a Bidirectional (window) model when the model fixes none.",
)
def keras(
    model: str,
    out: str | None,
    task: str,
    features: str | None,
    targets: str | None,
    labels: str | None,
    vocab: str | None,
    scaler: str,
    scale_from: str | None,
    scale: str | None,
    window: int,
) -> None:
    """Convert the Keras MODEL (.keras, or a legacy .h5 whole model) to a streaming .onnx."""
    try:
        from edgernn.train.keras.convert import Options, import_keras, read_vocab
    except ImportError as e:
        if e.name in EXTRA_MODULES:
            raise UsageError(
                f"`edgernn import keras` needs the keras extra ({e.name} is missing); pip install "
                "'edgernn[keras]'"
            ) from e
        raise
    target = Path(out) if out else Path(model).with_suffix(".onnx")
    options = Options(
        task=task,
        features=_names(features),
        targets=_names(targets),
        labels=_names(labels),
        vocab=read_vocab(vocab) if vocab else (),
        scaler=scaler,
        scale_from=scale_from,
        scale=scale,
        window=window,
    )
    try:
        sig = import_keras(model, target, options)
    except ImportError as e:
        if e.name in EXTRA_MODULES:
            raise UsageError(
                f"`edgernn import keras` needs the keras extra ({e.name} is missing); pip install "
                "'edgernn[keras]'"
            ) from e
        raise
    error = sig.parity.get("max_rel_error", 0.0)
    what = (
        ", ".join(sig.targets or sig.labels)
        or f"{len(sig.tokenizer.vocab) if sig.tokenizer else 0} tokens"
    )
    click.echo(
        f"wrote {target}: {sig.task} {sig.arch} {list(sig.layers)} -> {what}; matches Keras' "
        f"formulas to {error:.1e} (relative); run it with {task_of(sig.task).command} {target}",
        err=True,
    )
