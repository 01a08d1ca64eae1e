"""The ``edgernn`` command line. Errors become one line on stderr and an exit code here only.

Exit codes: 0 ok (also when the reader of stdout goes away, as with ``| head``); 1 unexpected
failure; 2 bad usage (unknown flag, bad value, missing argument, unknown command); 3 model or
signature problem; 4 execution provider cannot run; 5 bad input data; 6 bad state snapshot;
7 export failed its parity check, or a verify check failed; 130 interrupted (Ctrl-C).
Commands that need PyTorch import it lazily, inside the command, so the runtime commands
never load it.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, NoReturn

import click

from edgernn import __version__
from edgernn.errors import EdgernnError

_HELP_FOR_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2 raises it


class EdgernnGroup(click.Group):
    """A click group that turns any EdgernnError into ``error: <message>`` and its exit code,
    click's usage errors into one ``error: ...; see 'edgernn CMD --help'`` line (exit 2), Ctrl-C
    into ``interrupted`` (exit 130), and a closed stdout into a quiet end."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        try:
            # an int only from ctx.exit / --help
            code = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
            # inside the try: a closed pipe shows up here, not at interpreter exit
            sys.stdout.flush()
        except (
            _HELP_FOR_NO_ARGS
        ) as e:  # `edgernn` or `edgernn train` alone: the help, as click shows it
            e.show()
            sys.exit(e.exit_code)
        except click.UsageError as e:
            _fail(f"{_one_line(e.format_message())}; see '{_command_path(e)} --help'", e.exit_code)
        except click.ClickException as e:
            _fail(_one_line(e.format_message()), e.exit_code)
        except click.Abort:  # Ctrl-C while click parses, or an aborted prompt
            _fail("interrupted", 130, prefix="")
        except BrokenPipeError:
            _quiet_end()
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgernnError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(e.exit_code)
        except BrokenPipeError:  # the reader of stdout went away (| head): not an error of ours
            _quiet_end()
        except OSError as e:  # a file the user named cannot be written or read
            where = f" {e.filename!r}" if e.filename else ""
            click.echo(
                f"error: cannot use{where}: {e.strerror or e}; check the path and its permissions",
                err=True,
            )
            sys.exit(5)
        except ImportError as e:
            if e.name in ("torch", "onnx", "onnxscript", "tqdm"):
                click.echo(
                    f"error: this command needs the train extra ({e.name} is missing); pip install "
                    "'edgernn[train]'",
                    err=True,
                )
                sys.exit(2)
            raise
        except click.UsageError as e:
            # click leaves "requires an argument" without one
            if e.ctx is None and ctx.invoked_subcommand:
                e.command_path = f"{ctx.command_path} {ctx.invoked_subcommand}"  # type: ignore[attr-defined]
            raise
        # the stream loop handles its own (state saved, summary)
        except (
            KeyboardInterrupt,
            click.Abort,
        ):
            click.echo("interrupted", err=True)
            sys.exit(130)


def _one_line(message: str) -> str:
    """click's "No such option '--x'. Did you mean '--y'?" as "no such option '--x' (did you mean
    '--y'?)";
    likewise "(Possible options: ...)"; one line, no final full stop."""
    text = " ".join(message.split())
    text = re.sub(
        r"\. \(?(Did you mean [^?]+\?|Possible options: [^)]+)\)?$",
        lambda m: f" ({m.group(1)[0].lower()}{m.group(1)[1:]})",
        text,
    )
    text = text.rstrip(".")
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _command_path(e: click.UsageError) -> str:
    return e.ctx.command_path if e.ctx is not None else getattr(e, "command_path", "edgernn")


def _fail(message: str, code: int, prefix: str = "error: ") -> NoReturn:
    click.echo(f"{prefix}{message}", err=True)
    sys.exit(code)


def _quiet_end() -> NoReturn:
    """End without a word when stdout's reader has gone (Python's recipe for SIGPIPE): point
    stdout at devnull so the interpreter's final flush does not fail a second time."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    # no real file descriptor (a test runner's buffer): nothing to flush later
    except (
        OSError,
        ValueError,
    ):
        pass
    sys.exit(0)


@click.group("edgernn", cls=EdgernnGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgernn")
def main() -> None:
    """Run recurrent neural networks statefully, step by step, on live data."""


def _register() -> None:
    from edgernn.cli import (
        bench_cmd,
        classify_cmd,
        compare_cmd,
        export_cmd,
        flink_cmd,
        generate_cmd,
        import_cmd,
        inspect_cmd,
        score_cmd,
        stream_cmd,
        tag_cmd,
        train_classify_cmd,
        train_cmd,
        train_music_cmd,
        train_tokens_cmd,
        verify_cmd,
    )

    for sub in (
        train_classify_cmd.classify,
        train_tokens_cmd.charlm,
        train_tokens_cmd.seq2seq,
        tag_cmd.train,
        train_music_cmd.music,
    ):
        train_cmd.command.add_command(sub)  # each task's own module joins `edgernn train`

    for module in (
        stream_cmd,
        inspect_cmd,
        generate_cmd,
        score_cmd,
        classify_cmd,
        tag_cmd,
        train_cmd,
        export_cmd,
        verify_cmd,
        bench_cmd,
        compare_cmd,
        import_cmd,
        flink_cmd,
    ):
        main.add_command(_loader_checks_model_paths(module.command))


def _loader_checks_model_paths(command: click.Command) -> click.Command:
    """Let ``edgernn.load`` judge a MODEL argument (a directory, a missing file: exit 3, one line)
    instead of click.Path's usage error, so every model problem reads and exits the same way."""
    for param in command.params:
        if (
            isinstance(param, click.Argument)
            and param.name == "model"
            and isinstance(param.type, click.Path)
        ):
            param.type = click.Path()
    return command


_register()
