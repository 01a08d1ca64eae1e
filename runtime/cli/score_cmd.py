"""``edgernn score MODEL FILE``: how well a character LM predicts a text, in bits per character
(per line with ``--per-line``), by streaming the text through the exported graph."""

from __future__ import annotations

import json
import sys

import click

from edgernn.cli.common import is_terminal, json_option, provider_option, say
from edgernn.core.model import load
from edgernn.errors import DataError
from edgernn.tasks.score import CHUNK, LineScore, Score, check_char_lm, read_text, score_text

LONG = 100_000  # characters from which the command first says what it is about to do


@click.command("score")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("file", type=str)
@json_option(
    "Print a JSON summary (with --per-line, one JSON line per input line first, the summary last)."
)
@click.option("--per-line", is_flag=True, help="Also the bits per character of every input line.")
@click.option("--quiet", is_flag=True, help="No announcement or progress on stderr.")
@provider_option()
def command(
    model: str, file: str, as_json: bool, per_line: bool, quiet: bool, provider: str
) -> None:
    """Score FILE (UTF-8 text, or - for stdin) with the character LM MODEL: bits per character.

    The text is streamed through the graph from a fresh state, 4096 characters per call; every
    character but the first (which has nothing before it) is scored with -log2 of the
    probability the model gave it. Characters outside the model's vocabulary are scored as
    <unk> and counted. This is how `edgernn train charlm` computes its held-out figure.

    \b
    edgernn score runs/charlm/model.onnx notes.txt
    edgernn score runs/charlm/model.onnx notes.txt --json --per-line > lines.jsonl
    """
    text = read_text(file)  # bad files first: before the model is loaded
    if len(text) < 2:
        what = "is empty" if not text else "has only 1 character"
        raise DataError(
            f"FILE {file!r} {what}; scoring needs at least 2 characters (the first is only read)"
        )
    m = load(model, provider=provider)
    check_char_lm(m)
    name = "stdin" if file == "-" else file
    if len(text) >= LONG:
        say(
            quiet,
            f"scoring {len(text):,} characters of {name} with {m.path.name} on {m.provider}, "
            f"{CHUNK} per graph call",
        )
    progress = _Progress() if not quiet and is_terminal(sys.stderr) else None
    try:
        s = score_text(m, text, per_line=per_line, progress=progress)
    finally:
        if progress is not None:
            progress.clear()
    if as_json:
        for line in s.lines or []:
            click.echo(json.dumps(line.to_dict()))
        click.echo(json.dumps({"model": str(m.path), "file": name, **s.to_dict()}))
        return
    for line in s.lines or []:
        click.echo(_line_text(line))
    click.echo(_summary(s, name))


def _summary(s: Score, name: str) -> str:
    unknown = (
        f"; {s.unknown_chars:,} outside the vocabulary, scored as <unk>" if s.unknown_chars else ""
    )
    return (
        f"{s.bits_per_char:.4f} bits per character over {s.scored:,} characters of {name} "
        f"(the first of {s.chars:,} only read{unknown})"
    )


def _line_text(line: LineScore) -> str:
    bpc = line.bits_per_char
    figure = "    -    " if bpc is None else f"{bpc:7.3f}  "
    return f"line {line.line:>6}: {figure} bits/char over {line.scored:>5} characters"


class _Progress:
    """``scoring 40,960/812,345 characters (5%)`` on a terminal's stderr, redrawn in place."""

    def __call__(self, done: int, total: int) -> None:
        sys.stderr.write(f"\r\033[Kscoring {done:,}/{total:,} characters ({done / total:.0%})")
        sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()
