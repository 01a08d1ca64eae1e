"""``edgernn.tasks.classify`` and `edgernn classify` on the tiny shipped-for-tests text
classifier (torch-free)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_checks import one_clear_line
from click.testing import CliRunner

import edgernn
from edgernn.cli import main
from edgernn.core.model import default_model_path
from edgernn.errors import UsageError
from edgernn.tasks.classify import ClassifierStream, softmax

TINY = Path(__file__).parent.parent / "data" / "tiny-classifier.onnx"


@pytest.fixture(scope="module")
def stream() -> ClassifierStream:
    return ClassifierStream(edgernn.load(TINY, provider="cpu"))


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, ["classify", *args], input=input)


def test_signature_of_a_text_classifier(stream):
    sig = stream.model.signature
    assert (
        sig.task == "classify"
        and sig.labels == ("ham", "spam", "eggs")
        and sig.tokenizer.kind == "char"
    )
    assert sig.inputs[0].dtype == "int64" and sig.outputs[0].shape == ("batch", "time", 3)
    assert sig.parity["max_abs_error"] <= 1e-5


def test_steps_equal_one_chunk_and_probabilities_sum_to_one(stream):
    running, label = stream.classify_text("hello world")
    assert len(running) == 11 and [t for t, _ in running][:2] == ["h", "e"]
    stream.reset()
    stepped = stream.steps("hello world")
    for (_, chunk), step in zip(running, stepped):
        assert list(step) == ["ham", "spam", "eggs"] and sum(step.values()) == pytest.approx(1.0)
        assert max(abs(chunk[k] - step[k]) for k in step) <= 1e-5
    assert label == max(stepped[-1], key=stepped[-1].get)


def test_unknown_characters_are_counted_never_a_crash(stream):
    running, _ = stream.classify_text("héllo, Wörld!")
    assert len(running) == 13 and stream.unknown == 5  # é , W ö !
    stream.reset()
    stream.step("é")
    stream.step(0)
    assert stream.unknown == 2


def test_reset_gives_the_same_answer_again(stream):
    a = stream.classify_text("spam spam")[0][-1][1]
    stream.step("x")
    b = stream.classify_text("spam spam")[0][-1][1]
    assert a == b


def test_bad_steps_are_usage_errors(stream):
    with pytest.raises(UsageError, match="empty"):
        stream.classify_text("")
    with pytest.raises(UsageError, match="outside the vocabulary"):
        stream.step(999)
    with pytest.raises(UsageError, match="one token"):
        stream.step("ab")


def test_softmax_is_stable():
    assert np.allclose(softmax(np.array([1000.0, 1000.0])), [0.5, 0.5])


def test_a_forecast_model_is_refused_naming_its_task():
    with pytest.raises(UsageError, match="'forecast' model"):
        ClassifierStream(edgernn.load(provider="cpu"))
    one_clear_line(
        run(str(default_model_path()), "--text", "hi"), 2, "'forecast' model", "classify"
    )


def test_stream_and_generate_refuse_a_classifier():
    one_clear_line(
        CliRunner().invoke(main, ["stream", str(TINY), "--source", "demo"]), 2, "'classify' model"
    )
    one_clear_line(
        CliRunner().invoke(main, ["generate", str(TINY), "-p", "hi"]), 2, "'classify' model"
    )


def test_cli_text_plain_json_and_every_step():
    r = run(str(TINY), "--text", "good eggs")
    assert r.exit_code == 0, r.output
    label, rest = r.stdout.strip().split("\t")
    assert label in ("ham", "spam", "eggs") and rest.startswith(label)
    j = run(str(TINY), "--text", "good eggs", "--json")
    out = json.loads(j.stdout)
    assert out["label"] == label and out["tokens"] == 9 and out["unknown_tokens"] == 0
    e = run(str(TINY), "--text", "good Eggs", "--every-step")
    lines = [json.loads(x) for x in e.stdout.splitlines()]
    assert len(lines) == 10 and lines[0]["step"] == 1 and lines[0]["token"] == "g"
    assert (
        lines[-1]["unknown_tokens"] == 1
        and lines[-1]["probabilities"] == lines[-2]["probabilities"]
    )


def test_cli_text_source_one_text_per_line(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("first text\n\nsecond one\n")
    r = run(str(TINY), "--source", str(path), "--json")
    assert r.exit_code == 0, r.output
    assert [json.loads(x)["text"] for x in r.stdout.splitlines()] == ["first text", "second one"]
    assert run(str(TINY), "--source", "-", "--json", input="from stdin\n").exit_code == 0


def test_cli_text_needs_exactly_one_input():
    one_clear_line(run(str(TINY)), 2, "--text")
    one_clear_line(run(str(TINY), "--text", "a", "--source", "-"), 2, "--text")
