"""``edgernn generate``: continue a prompt with a character LM, printing each character as it comes."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import click

DEFAULT_MODEL = "char-lm.onnx"


def default_model_path() -> Path:
    """The shipped character LM, ``exported/char-lm.onnx``, wherever it was installed."""
    return Path(str(resources.files("edgernn.exported") / DEFAULT_MODEL))


@click.command("generate")
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("--prompt", "-p", required=True, help="Text to continue, e.g. 'The '.")
@click.option("--max-tokens", "-n", type=int, default=200, show_default=True, help="Characters to generate.")
@click.option("--temperature", "-t", type=float, default=0.8, show_default=True,
              help="0 = greedy (always the most likely); higher = more varied.")
@click.option("--top-k", type=int, default=None, help="Sample only among the K most likely characters.")
@click.option("--top-p", type=float, default=None, help="Nucleus: sample among the most likely characters whose probability reaches P.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same text).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end instead of streaming text.")
@click.option("--provider", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True)
def command(model: str | None, prompt: str, max_tokens: int, temperature: float, top_k: int | None, top_p: float | None,
            seed: int, as_json: bool, provider: str) -> None:
    """Generate text with a character-level model (MODEL: default the shipped exported/char-lm.onnx)."""
    from edgernn.generate import Generator, check_options, check_prompt
    from edgernn.model import load

    check_prompt(prompt)  # before loading anything
    check_options(max_tokens, temperature, top_k, top_p)
    gen = Generator(load(model or default_model_path(), provider=provider))
    chars = gen.generate(prompt, max_tokens, temperature, top_k, top_p, seed)
    if as_json:
        text = "".join(chars)
        s = gen.stats
        click.echo(json.dumps({"prompt": prompt, "text": text, "tokens": s.tokens, "unknown_chars": s.unknown_chars,
                               "seconds": round(s.seconds, 4), "tokens_per_s": round(s.tokens / s.seconds, 1) if s.seconds else None}))
        return
    click.echo(prompt, nl=False)
    for ch in chars:
        click.echo(ch, nl=False)  # click.echo flushes after each write
    click.echo()
