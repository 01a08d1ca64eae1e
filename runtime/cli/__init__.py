"""The ``edgernn`` command line. Errors become one line on stderr and an exit code here only.

Exit codes: 0 ok; 1 unexpected failure; 2 bad usage (unknown flag, bad value); 3 model or
signature problem; 4 execution provider cannot run; 5 bad input data; 6 bad state snapshot;
7 export failed its parity check, or a verify check failed. Commands that need PyTorch import it lazily, inside the
command, so the runtime commands never load it.
"""

from __future__ import annotations

import sys

import click

from edgernn import __version__
from edgernn.errors import EdgernnError


class EdgernnGroup(click.Group):
    """A click group that turns any EdgernnError into ``error: <message>`` and its exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgernnError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(e.exit_code)
        except OSError as e:  # a file the user named cannot be written or read
            where = f" {e.filename!r}" if e.filename else ""
            click.echo(f"error: cannot use{where}: {e.strerror or e}; check the path and its permissions", err=True)
            sys.exit(5)
        except ImportError as e:
            if e.name in ("torch", "onnx", "onnxscript", "tqdm"):
                click.echo(f"error: this command needs the train extra ({e.name} is missing); pip install 'edgernn[train]'", err=True)
                sys.exit(2)
            raise


@click.group(cls=EdgernnGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgernn")
def main() -> None:
    """Run recurrent neural networks statefully, step by step, on live data."""


def _register() -> None:
    from edgernn.cli import bench_cmd, compare_cmd, export_cmd, generate_cmd, inspect_cmd, stream_cmd, train_cmd, verify_cmd
    from edgernn.cli import classify_cmd

    for module in (stream_cmd, inspect_cmd, generate_cmd, classify_cmd, train_cmd, export_cmd, verify_cmd, bench_cmd, compare_cmd):
        main.add_command(module.command)


_register()
