"""``edgernn compare``: every supported architecture side by side at matching sizes (needs the
train extra)."""

from __future__ import annotations

import json

import click

from edgernn.bench.plot import check_plot_path
from edgernn.errors import UsageError


@click.command("compare")
@click.option(
    "--archs",
    default="rnn,lstm,gru,gru-bn,lstm-deep,bilstm,lstm-attn,lstm-highway,linear",
    show_default=True,
    metavar="A,A,...",
    help="Architectures, comma-separated: rnn, lstm, gru, gru-bn, lstm-deep, bilstm, lstm-attn, "
    "lstm-highway (+ the linear autoregression over lags 1, 2, 12, 13), linear (that alone).",
)
@click.option(
    "--hidden",
    default="64,64",
    show_default=True,
    help="Hidden size per stacked layer, the same for every arch.",
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
    "--epochs", default=5, show_default=True, help="With --data: maximum training epochs."
)
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
    archs: str,
    hidden: str,
    features: int,
    steps: int,
    data: str | None,
    epochs: int,
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
    """
    from edgernn.train.forecast.compare import CompareConfig, compare, parse_archs, plot, render
    from edgernn.train.options import parse_hidden

    config = CompareConfig(
        parse_archs(archs), parse_hidden(hidden), features, steps, data, epochs, window, seed
    )
    if plot_path:
        check_plot_path(plot_path)
    progress = (
        (lambda _: None) if quiet else (lambda text: click.echo(f"compare: {text}", err=True))
    )
    result = compare(config, progress)
    if plot_path:
        try:
            plot(result, plot_path)
        except OSError as e:
            raise UsageError(
                f"--plot {plot_path!r} cannot be written ({e.strerror or e}); pick another path"
            ) from e
    click.echo(json.dumps(result, indent=2) if as_json else render(result))
