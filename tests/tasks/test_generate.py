"""`edgernn generate` and ``edgernn.tasks.generate``: the shipped char LM, sampling
semantics, every error path."""

from __future__ import annotations

import doctest
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cli_checks import one_clear_line
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import edgernn
import edgernn.tasks.generate as generate_module
from edgernn.cli import main
from edgernn.cli.generate_cmd import default_model_path
from edgernn.core.model import default_model_path as forecast_model_path
from edgernn.errors import UsageError
from edgernn.tasks.generate import Generator, sample

GOLDEN = json.loads((default_model_path().parent / "char-lm.golden.json").read_text())


@pytest.fixture(scope="module")
def gen() -> Generator:
    return Generator(edgernn.load(default_model_path(), provider="cpu"))


def run(*args: str):
    return CliRunner().invoke(main, ["generate", *args])


# ---- the shipped model -----------------------------------------------------------------------
def test_shipped_char_lm_loads_with_its_signature(gen):
    sig = gen.model.signature
    assert sig.task == "generate" and sig.arch == "lstm" and sig.tokenizer.unk == "<unk>"
    assert sig.inputs[0].dtype == "int64" and sig.outputs[0].shape[-1] == len(sig.tokenizer.vocab)
    assert sig.parity["max_abs_error"] <= 1e-5
    assert default_model_path().stat().st_size < 5_000_000


def test_runtime_matches_the_pytorch_checkpoint_and_the_golden_greedy_text(gen):
    assert gen.model.model_id == GOLDEN["model_id"]
    ids = np.array([GOLDEN["prompt_ids"]], dtype=np.int64)  # (1, T)
    logits, _ = gen.model.run(ids, gen.model.initial_state(1))  # (1, T, V)
    assert np.max(np.abs(logits[0] - np.array(GOLDEN["torch_logits"]))) <= 1e-4
    assert (
        "".join(gen.generate(GOLDEN["prompt"], len(GOLDEN["greedy"]), temperature=0))
        == GOLDEN["greedy"]
    )


def test_one_step_at_a_time_equals_one_chunk(gen):
    gen.reset()
    chunk = gen.feed("The model").copy()
    gen.reset()
    for ch in "The model":
        step = gen.feed(ch)
    assert np.max(np.abs(step - chunk)) <= 1e-5


def test_generate_streams_one_character_at_a_time(gen):
    chars = gen.generate("The ", max_tokens=5, temperature=0.8, seed=1)
    assert isinstance(chars, Iterator)
    first = next(chars)
    assert len(first) == 1 and gen.stats.tokens == 1
    assert len(list(chars)) == 4 and gen.stats.tokens == 5


def test_seeded_sampling_is_reproducible_and_seeds_differ(gen):
    texts = ["".join(gen.generate("The ", 100, temperature=1.0, seed=s)) for s in (0, 0, 1)]
    assert texts[0] == texts[1] and texts[0] != texts[2]
    assert len(texts[0]) == 100


def test_unknown_characters_map_to_unk_and_are_counted(gen):
    vocab = set(gen.tokenizer.vocab)
    prompt = "The ☃ snowman → ünïcode"
    expected = sum(ch not in vocab for ch in prompt)
    assert expected >= 2
    text = "".join(gen.generate(prompt, 10, temperature=0))
    assert len(text) == 10 and gen.stats.unknown_chars == expected
    assert (gen.encode("☃") == gen.unk_id).all()


def test_a_forecast_model_is_refused_naming_its_task():
    with pytest.raises(UsageError, match="'forecast' model"):
        Generator(edgernn.load(forecast_model_path(), provider="cpu"))


# ---- sampling semantics ----------------------------------------------------------------------
LOGITS = st.lists(st.floats(-10, 10, allow_nan=False), min_size=2, max_size=30, unique=True).map(
    np.array
)


@settings(max_examples=200, deadline=None)
@given(
    LOGITS,
    st.floats(0.05, 3.0),
    st.integers(1, 40),
    st.floats(0.01, 1.0),
    st.integers(0, 2**32 - 1),
)
def test_sample_stays_within_top_k_and_the_nucleus(logits, temperature, top_k, top_p, seed):
    rng = np.random.default_rng(seed)
    token = sample(logits, temperature, top_k=top_k, rng=rng)
    assert token in np.argsort(-logits)[:top_k]
    token = sample(logits, temperature, top_p=top_p, rng=rng)
    z = logits / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    # everything likelier than it does not yet reach top_p
    assert p[p > p[token]].sum() < top_p + 1e-9


@settings(max_examples=100, deadline=None)
@given(LOGITS, st.integers(0, 2**32 - 1))
def test_temperature_zero_is_argmax_and_top_k_1_is_argmax(logits, seed):
    assert sample(logits, 0.0) == int(np.argmax(logits))
    assert sample(logits, 2.0, top_k=1, rng=np.random.default_rng(seed)) == int(np.argmax(logits))


def test_sampling_follows_the_distribution():
    logits = np.log(np.array([0.5, 0.3, 0.2]))
    rng = np.random.default_rng(0)
    counts = np.bincount([sample(logits, 1.0, rng=rng) for _ in range(4000)], minlength=3) / 4000
    assert np.allclose(counts, [0.5, 0.3, 0.2], atol=0.03)
    assert {sample(logits, 1.0, top_p=0.5, rng=rng) for _ in range(200)} == {0}
    assert {sample(logits, 1.0, top_p=0.6, rng=rng) for _ in range(200)} == {0, 1}


def test_doctests():
    result = doctest.testmod(generate_module)
    assert result.attempted > 0 and result.failed == 0


# ---- the command line ------------------------------------------------------------------------
def test_cli_prints_the_prompt_then_the_generated_text():
    r = run("--prompt", "The ", "-n", "30", "--temperature", "0.5")
    assert r.exit_code == 0, r.output
    j = run("--prompt", "The ", "-n", "30", "--temperature", "0.5", "--json")
    assert r.stdout == "The " + json.loads(j.stdout)["text"] + "\n"


def test_cli_json_fields():
    r = run(str(default_model_path()), "--prompt", "Thé ", "-n", "20", "-t", "0", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out) == {"prompt", "text", "tokens", "unknown_chars", "seconds", "tokens_per_s"}
    assert out["prompt"] == "Thé " and len(out["text"]) == 20 and out["tokens"] == 20
    assert out["unknown_chars"] == (0 if "é" in vocab() else 1) and out["tokens_per_s"] > 0


def vocab() -> set[str]:
    return set(edgernn.load(default_model_path(), provider="cpu").signature.tokenizer.vocab)


def test_cli_max_tokens_zero_prints_just_the_prompt():
    r = run("--prompt", "The ", "--max-tokens", "0")
    assert r.exit_code == 0 and r.stdout == "The \n"


@pytest.mark.parametrize(
    "args,words",
    [
        (["--prompt", ""], ["--prompt is empty", "--prompt 'The '"]),
        (["--prompt", "a", "--temperature", "-0.5"], ["--temperature must be >= 0"]),
        (["--prompt", "a", "--temperature", "nan"], ["--temperature must be >= 0"]),
        (["--prompt", "a", "--top-k", "0"], ["--top-k must be >= 1"]),
        (["--prompt", "a", "--top-p", "0"], ["--top-p must be in (0, 1]"]),
        (["--prompt", "a", "--top-p", "1.5"], ["--top-p must be in (0, 1]"]),
        (["--prompt", "a", "--max-tokens", "-1"], ["--max-tokens must be >= 0"]),
    ],
)
def test_cli_bad_options_are_one_clear_line_exit_2(args, words):
    one_clear_line(run(*args), 2, *words)


def test_cli_refuses_a_forecast_model_naming_the_task():
    one_clear_line(
        run(str(forecast_model_path()), "--prompt", "The "), 2, "'forecast' model", "char-lm.onnx"
    )


def test_cli_missing_model_file(tmp_path: Path):
    one_clear_line(run(str(tmp_path / "nope.onnx"), "--prompt", "The "), 3, "does not exist")


def test_other_commands_treat_the_char_model_for_what_it_is():
    from click.testing import CliRunner

    from edgernn.cli import main

    path = str(edgernn.default_model_path().with_name("char-lm.onnx"))
    runner = CliRunner()
    inspect = runner.invoke(main, ["inspect", path])
    assert (
        inspect.exit_code == 0
        and "tokenizer    char" in inspect.stdout
        and "bits per character" in inspect.stdout
    )
    verify = runner.invoke(main, ["verify", path])
    assert verify.exit_code == 0 and "all 5 checks passed" in verify.stdout
    stream = runner.invoke(main, ["stream", path, "--source", "demo"])
    assert (
        stream.exit_code == 2
        and "use edgernn generate" in stream.stderr
        and "Traceback" not in stream.output
    )
