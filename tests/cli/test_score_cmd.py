"""`edgernn score MODEL FILE` from the user's side: the figures, --json / --per-line, stdin,
long-file feedback and every bad input (the shipped char-lm.onnx, torch-free)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_checks import one_clear_line
from click.testing import CliRunner

import edgernn
import edgernn.cli.score_cmd as score_cmd
from edgernn.cli import main
from edgernn.cli.generate_cmd import default_model_path
from edgernn.core.model import default_model_path as forecast_model_path
from edgernn.tasks.score import score_text

LM = str(default_model_path())
TEXT = "The default value is None.\nReturn the object.\n\nfor x in y: pass\n"


def run(*args: str, input: str | bytes | None = None):
    return CliRunner().invoke(main, ["score", *args], input=input)


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def want():
    return score_text(edgernn.load(LM, provider="cpu"), TEXT, per_line=True)


def test_prints_the_bits_per_character_of_the_file(text_file, want):
    r = run(LM, str(text_file))
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"{want.bits_per_char:.4f} bits per character over {want.scored}")
    assert len(r.stdout.splitlines()) == 1 and r.stderr == ""  # short file: nothing announced


def test_json_summary(text_file, want):
    r = run(LM, str(text_file), "--json")
    out = json.loads(r.stdout)
    assert out["bits_per_char"] == pytest.approx(want.bits_per_char, abs=1e-6)
    assert (out["chars"], out["scored"], out["unknown_chars"]) == (len(TEXT), len(TEXT) - 1, 0)
    assert out["file"] == str(text_file) and out["lines"] is None


def test_json_per_line_gives_one_line_per_input_line_then_the_summary(text_file, want):
    r = run(LM, str(text_file), "--json", "--per-line")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    lines, summary = rows[:-1], rows[-1]
    assert [x["line"] for x in lines] == [1, 2, 3, 4] and summary["lines"] == 4
    assert [x["chars"] for x in lines] == [len(x) for x in TEXT.splitlines(keepends=True)]
    assert sum(x["bits"] for x in lines) == pytest.approx(summary["bits"], abs=1e-3)
    assert [x["bpc"] for x in lines] == [round(x.bits_per_char, 6) for x in want.lines]
    text = run(LM, str(text_file), "--per-line")
    assert len(text.stdout.splitlines()) == 5 and text.stdout.startswith("line      1:")


def test_stdin_and_crlf_newlines_score_like_the_file(text_file, want):
    r = run(LM, "-", "--json", input=TEXT.replace("\n", "\r\n").encode())
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["file"] == "stdin" and out["bits_per_char"] == pytest.approx(want.bits_per_char)


def test_a_long_file_is_announced_first(tmp_path, monkeypatch):
    monkeypatch.setattr(score_cmd, "LONG", 100)  # long = 100 characters here, to stay quick
    path = tmp_path / "long.txt"
    path.write_text(TEXT * 3, encoding="utf-8")
    r = run(LM, str(path))
    assert r.exit_code == 0, r.output
    assert r.stderr.startswith(f"scoring {len(TEXT) * 3} characters of {path} with char-lm.onnx")
    assert run(LM, str(path), "--quiet").stderr == ""


def test_help_says_how_it_scores():
    r = CliRunner().invoke(main, ["score", "--help"])
    assert r.exit_code == 0 and "fresh state" in r.stdout and "<unk>" in r.stdout


def test_a_forecaster_is_refused_naming_its_task(text_file):
    one_clear_line(
        run(str(forecast_model_path()), str(text_file)), 2, "'forecast' model", "char-lm.onnx"
    )


def test_missing_model(text_file, tmp_path):
    one_clear_line(run(str(tmp_path / "nope.onnx"), str(text_file)), 3, "does not exist")


@pytest.mark.parametrize(
    "content,words",
    [
        (b"", ["is empty", "at least 2 characters"]),
        (b"x", ["has only 1 character"]),
        (b"caf\xe9 au lait", ["is not UTF-8 text", "byte 0xe9 at offset 3", "iconv"]),
    ],
)
def test_bad_files_are_one_clear_line_exit_5(tmp_path, content, words):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    one_clear_line(run(LM, str(path)), 5, str(path), *words)


def test_missing_file_and_a_directory(tmp_path):
    one_clear_line(run(LM, str(tmp_path / "nope.txt")), 5, "does not exist", "- for stdin")
    one_clear_line(run(LM, str(tmp_path)), 5, "is a directory")


def test_missing_file_argument_is_a_usage_error():
    one_clear_line(run(LM), 2, "missing argument 'FILE'", "edgernn score --help")
