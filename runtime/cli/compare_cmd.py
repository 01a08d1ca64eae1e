"""``edgernn compare``: every supported architecture side by side at matching sizes (needs the
train extra)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from edgernn.bench.plot import check_plot_path
from edgernn.errors import UsageError

FORECAST_ARCHS = "rnn,lstm,gru,gru-bn,lstm-deep,bilstm,lstm-attn,lstm-highway,linear"


@click.command("compare")
@click.option(
    "--task",
    type=click.Choice(["forecast", "classify"]),
    default="forecast",
    show_default=True,
    help="classify: train classifiers on --data (as `edgernn train classify`) and compare test "
    "accuracy, parameters and step latency.",
)
@click.option(
    "--archs",
    default=None,
    metavar="A,A,...",
    help="Architectures, comma-separated. forecast (default all): rnn, lstm, gru, gru-bn, "
    "lstm-deep, bilstm, lstm-attn, lstm-highway (+ the linear autoregression over lags 1, 2, 12, "
    "13), linear (that alone). classify (default tcn,lstm, each with attention): tcn, lstm, gru, "
    "rnn.",
)
@click.option(
    "--hidden",
    default=None,
    help="Hidden size per stacked layer, the same for every arch. Default: 64,64 (forecast); "
    "each arch's own default (classify).",
)
@click.option(
    "--features",
    default=2,
    show_default=True,
    help="Input columns of the random-weight models (ignored with --data).",
)
@click.option(
    "--steps",
    default=2000,
    show_default=True,
    help="Timed Stream.step calls per architecture (>= 10).",
)
@click.option(
    "--data",
    default=None,
    help="Train each arch on this (as `edgernn train forecast --data`) and report test MSE.",
)
@click.option(
    "--epochs",
    default=None,
    type=int,
    help="With --data: maximum training epochs. Default: 5 (forecast), the train classify "
    "default (classify).",
)
@click.option("--test-data", "test_data", help="classify: the official test file (e.g. X_TEST.ts).")
@click.option("--label", help="classify, CSV data: the class column.")
@click.option("--seq-id", "seq_id", help="classify, sensor CSV: the sequence column.")
@click.option("--text", help="classify, text CSV: the text column.")
@click.option(
    "--window", default=50, show_default=True, help="With --data: time steps per training window."
)
@click.option("--seed", default=0, show_default=True, help="Seed of the weights (and training).")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON on stdout instead of a table."
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE.png",
    help="Also draw a bar chart: parameters, ONNX size, step latency (and test MSE with --data).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
def command(
    task: str,
    archs: str | None,
    hidden: str | None,
    features: int,
    steps: int,
    data: str | None,
    epochs: int | None,
    test_data: str | None,
    label: str | None,
    seq_id: str | None,
    text: str | None,
    window: int,
    seed: int,
    as_json: bool,
    plot_path: str | None,
    quiet: bool,
) -> None:
    """Compare architectures at matching sizes: parameters, layers, ONNX file size, step latency
    in the runtime (p50/p99, next to a bare ONNX Runtime loop) and export parity.

    Every architecture uses --hidden, but lstm-deep (three layers of decreasing width from the
    first size) and gru-bn given one size (two layers of it). bilstm is a window model: its
    latency is WindowStream.step, re-running the whole --window at every step.

    Without --data the models have random weights (exported and verified like a trained one);
    with --data each is trained first and its test MSE is shown next to the naive baseline.

    JSON fields: edgernn, hidden, features, data, epochs, steps, provider, threads, machine,
    archs [{arch, layers, hidden, features, mode, params, onnx_bytes, flops_per_step, step_us {p50,
    p99, mean}, bare_ort_us {p50, p99, mean}, parity_max_abs_error, exporter; with --data also
    test_mse, naive_mse, skill_vs_naive, epochs_run}]. Needs the train extra.

    With --task classify --data FILE (CSV with --label, .ts, fastText; --test-data for an
    official test file) each classifier is trained with the `edgernn train classify` defaults
    but its architecture, and the table shows test accuracy (streamed, next to the majority
    class), parameters and the runtime's step latency. JSON: data, steps, machine, archs [{arch,
    layers, attention, params, onnx_bytes, test_accuracy, majority_accuracy, epochs_run,
    train_seconds, step_us {p50, p99, mean}}].
    """
    from edgernn.train.options import parse_hidden

    progress = (
        (lambda _: None) if quiet else (lambda text: click.echo(f"compare: {text}", err=True))
    )
    if task == "classify":
        _classify(archs, hidden, data, epochs, test_data, label, seq_id, text, steps, seed,
                  as_json, plot_path, progress)  # fmt: skip
        return
    from edgernn.train.forecast.compare import CompareConfig, compare, parse_archs, plot, render

    config = CompareConfig(
        parse_archs(FORECAST_ARCHS if archs is None else archs),
        parse_hidden(hidden or "64,64"),
        features,
        steps,
        data,
        5 if epochs is None else epochs,
        window,
        seed,
    )
    if plot_path:
        check_plot_path(plot_path)
    result = compare(config, progress)
    if plot_path:
        try:
            plot(result, plot_path)
        except OSError as e:
            raise UsageError(
                f"--plot {plot_path!r} cannot be written ({e.strerror or e}); pick another path"
            ) from e
    click.echo(json.dumps(result, indent=2) if as_json else render(result))


def _classify(
    archs: str | None,
    hidden: str | None,
    data: str | None,
    epochs: int | None,
    test_data: str | None,
    label: str | None,
    seq_id: str | None,
    text: str | None,
    steps: int,
    seed: int,
    as_json: bool,
    plot_path: str | None,
    progress: Callable[[str], None],
) -> None:
    """``--task classify``: classifiers trained on --data, side by side."""
    from edgernn.train.classify.compare import (
        DEFAULT_ARCHS,
        compare_classifiers,
        parse_archs,
        render,
    )
    from edgernn.train.options import parse_hidden

    if not data:
        raise UsageError("--task classify needs --data FILE (CSV with --label, .ts or fastText)")
    if plot_path:
        raise UsageError("--plot draws forecasters only; drop it with --task classify")
    options: dict[str, Any] = {
        "data": data,
        "test_data": test_data,
        "label": label,
        "seq_id": seq_id,
        "text": text,
        "seed": seed,
    }
    if hidden:
        options["hidden"] = parse_hidden(hidden)
    if epochs is not None:
        options["epochs"] = epochs
    chosen = parse_archs(DEFAULT_ARCHS if archs is None else archs)
    result = compare_classifiers(chosen, options, steps, progress)
    click.echo(json.dumps(result, indent=2) if as_json else render(result))
