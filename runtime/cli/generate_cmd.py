"""``edgernn generate``: continue a prompt with a character LM, printing each character as it
comes; decode a line with a seq2seq model; or write a melody with a music model (``--midi``)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import click

from edgernn.cli.common import json_option, provider_option
from edgernn.cli.generate_music import MusicRequest, misplaced
from edgernn.core.model import Model, load
from edgernn.errors import UsageError
from edgernn.tasks.generate import Generator, check_options, check_prompt
from edgernn.tasks.seq2seq import Seq2Seq, check_decode_options

DEFAULT_MODEL = "char-lm.onnx"
DEFAULT_MUSIC_MODEL = "music-bach.onnx"  # the model when --midi is given without MODEL


def default_model_path(name: str = DEFAULT_MODEL) -> Path:
    """A shipped model (the character LM, ``exported/char-lm.onnx``, by default), wherever it
    was installed."""
    return Path(str(resources.files("edgernn.exported") / name))


@click.command("generate")
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--prompt",
    "-p",
    default=None,
    help="Text to continue, e.g. 'The ' (char LMs; required for them).",
)
@click.option(
    "--input",
    "-i",
    "input_text",
    default=None,
    help="seq2seq models: the line to decode, e.g. '12345'.",
)
@click.option(
    "--beam", type=int, default=None, help="seq2seq models: beam size (1 or leave out = greedy)."
)
@click.option(
    "--max-tokens", "-n", type=int, default=200, show_default=True, help="Characters to generate."
)
@click.option(
    "--temperature",
    "-t",
    type=float,
    default=0.8,
    show_default=True,
    help="0 = greedy (always the most likely); higher = more varied.",
)
@click.option(
    "--top-k", type=int, default=None, help="Sample only among the K most likely characters."
)
@click.option(
    "--top-p",
    type=float,
    default=None,
    help="Nucleus: sample among the most likely characters whose probability reaches P.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same text)."
)
@click.option(
    "--midi",
    type=click.Path(dir_okay=False),
    default=None,
    help="Music models: write the melody to this MIDI file (without MODEL: the shipped "
    "music-bach.onnx).",
)
@click.option(
    "--seconds", type=float, default=None, help="Music: stop once the melody lasts this long."
)
@click.option("--events", type=int, default=None, help="Music: stop after this many notes/rests.")
@click.option(
    "--tempo", type=float, default=90.0, show_default=True, help="Music: quarter notes a minute."
)
@click.option(
    "--prompt-midi",
    type=click.Path(dir_okay=False),
    default=None,
    help="Music: continue the melody (top voice) of this MIDI file.",
)
@click.option(
    "--wav", type=click.Path(dir_okay=False), help="Music: also render a WAV (fluidsynth)."
)
@click.option("--roll", type=click.Path(dir_okay=False), help="Music: also draw a piano-roll PNG.")
@click.option(
    "--program", type=int, default=0, show_default=True, help="Music: General MIDI instrument."
)
@json_option("Print one JSON object at the end instead of streaming text.")
@provider_option()
def command(
    model: str | None,
    prompt: str | None,
    input_text: str | None,
    beam: int | None,
    max_tokens: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    seed: int,
    midi: str | None,
    seconds: float | None,
    events: int | None,
    tempo: float,
    prompt_midi: str | None,
    wav: str | None,
    roll: str | None,
    program: int,
    as_json: bool,
    provider: str,
) -> None:
    """Generate text with a character-level model (MODEL: default the shipped
    exported/char-lm.onnx), decode an --input line with a seq2seq model (greedy, or --beam K),
    or write a melody with a music model: --midi OUT.mid (MODEL: default the shipped
    exported/music-bach.onnx)."""

    text_flags = {"--prompt": prompt, "--input": input_text, "--beam": beam}
    music_flags = {"--seconds": seconds, "--events": events, "--prompt-midi": prompt_midi,
                   "--wav": wav, "--roll": roll}  # fmt: skip
    misplaced(midi, text_flags, music_flags)
    if midi is not None:
        music = MusicRequest(
            midi,
            seconds,
            events,
            tempo,
            prompt_midi,
            wav,
            roll,
            program,
            temperature,
            top_k,
            top_p,
            seed,
        )
        music.check()  # before loading anything
        m = load(model or default_model_path(DEFAULT_MUSIC_MODEL), provider=provider)
        music.run(m, as_json)
        return
    if prompt is not None:
        check_prompt(prompt)  # before loading anything
    if input_text is None and beam is None:
        check_options(max_tokens, temperature, top_k, top_p)
    m = load(model or default_model_path(), provider=provider)
    if m.signature.task == "music":
        raise UsageError(
            f"{m.path.name} is a music model: name the MIDI file to write with --midi OUT.mid "
            "(and --seconds S or --events N)"
        )
    if m.signature.task == "seq2seq":
        _seq2seq(m, prompt, input_text, beam, max_tokens, as_json)
        return
    if input_text is not None or beam is not None:
        flag = "--input" if input_text is not None else "--beam"
        raise UsageError(
            f"{flag} is for seq2seq models; {m.path.name} is a {m.signature.task!r} model: "
            "continue text with --prompt (use --temperature 0 for greedy)"
        )
    if prompt is None:
        raise UsageError(
            "Missing option '--prompt'; give the text to continue, e.g. --prompt 'The '"
        )
    check_options(max_tokens, temperature, top_k, top_p)
    gen = Generator(m)
    chars = gen.generate(prompt, max_tokens, temperature, top_k, top_p, seed)
    if as_json:
        text = "".join(chars)
        s = gen.stats
        click.echo(
            json.dumps(
                {
                    "prompt": prompt,
                    "text": text,
                    "tokens": s.tokens,
                    "unknown_chars": s.unknown_chars,
                    "seconds": round(s.seconds, 4),
                    "tokens_per_s": round(s.tokens / s.seconds, 1) if s.seconds else None,
                }
            )
        )
        return
    click.echo(prompt, nl=False)
    for ch in chars:
        click.echo(ch, nl=False)  # click.echo flushes after each write
    click.echo()


def _seq2seq(
    m: Model,
    prompt: str | None,
    input_text: str | None,
    beam: int | None,
    max_tokens: int,
    as_json: bool,
) -> None:
    """Decode one --input line with a seq2seq model: greedy, or beam search with --beam K."""

    if input_text is None:
        hint = f" (not --prompt {prompt!r})" if prompt is not None else ""
        raise UsageError(
            f"{m.path.name} is a seq2seq model: give the line to decode with --input TEXT{hint}"
        )
    check_decode_options(max_tokens, 1 if beam is None else beam)
    s2s = Seq2Seq(m)
    h = (
        s2s.beam_hypothesis(input_text, beam, max_tokens)
        if beam is not None
        else s2s.greedy_hypothesis(input_text, max_tokens)
    )
    if as_json:
        s = s2s.stats
        click.echo(
            json.dumps(
                {
                    "input": input_text,
                    "text": h.text,
                    "tokens": len(h.tokens),
                    "finished": h.finished,
                    "logprob": round(h.logprob, 6),
                    "score": round(h.score, 6),
                    "beam": beam or 1,
                    "decoder_calls": s.decoder_calls,
                    "unknown_chars": s.unknown_chars,
                    "seconds": round(s.seconds, 4),
                }
            )
        )
        return
    click.echo(h.text)
