"""`edgernn generate --midi` and ``edgernn.tasks.music`` with the shipped music-bach.onnx:
note-by-note streaming, stopping rules, seeds, MIDI / piano roll / WAV out, every bad input."""

from __future__ import annotations

import json
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cli_checks import one_clear_line
from click.testing import CliRunner

import edgernn
from edgernn.cli import main
from edgernn.cli.generate_cmd import DEFAULT_MUSIC_MODEL, default_model_path
from edgernn.errors import UsageError
from edgernn.tasks.midi import wav_tools
from edgernn.tasks.music import DURATIONS, MusicGenerator, Note, seconds_of

mido = pytest.importorskip("mido", reason="the music extra (mido) writes MIDI")
from edgernn.tasks.midi import read_midi, write_midi  # noqa: E402

PATH = default_model_path(DEFAULT_MUSIC_MODEL)
CHAR_LM = default_model_path()


@pytest.fixture(scope="module")
def gen() -> MusicGenerator:
    return MusicGenerator(edgernn.load(PATH, provider="cpu"))


def run(*args: str):
    return CliRunner().invoke(main, ["generate", *args])


def test_notes_stream_one_event_at_a_time(gen):
    notes = gen.notes(max_events=6, seed=1)
    assert isinstance(notes, Iterator)
    first = next(notes)
    assert isinstance(first, Note) and first.quarters in DURATIONS and gen.stats.events == 1
    assert len(list(notes)) == 5 and gen.stats.events == 6


def test_stepping_equals_one_chunk(gen):
    ids = np.array([gen.bos_id, *gen.encode([Note(60, 1.0), Note(62, 1.0), Note(64, 2.0)])])
    gen.reset()
    chunk = gen.feed(ids).copy()
    gen.reset()
    for i in ids:
        step = gen.feed(np.array([i]))
    assert np.max(np.abs(step - chunk)) <= 1e-5


def test_seeded_generation_is_reproducible_and_stops_at_the_length(gen):
    a, b, c = (list(gen.notes(seconds=20, tempo=90, seed=s)) for s in (3, 3, 4))
    assert a == b and a != c
    assert 20 <= seconds_of(a, 90) < 20 + 4 * 60 / 90  # stops at the first event past 20 s
    assert seconds_of(a[:-1], 90) < 20
    assert all(n.pitch is None or 30 <= n.pitch <= 100 for n in a)


def test_top_k_one_is_greedy(gen):
    greedy = list(gen.notes(max_events=16, temperature=0.0))
    assert list(gen.notes(max_events=16, temperature=1.5, top_k=1, seed=9)) == greedy
    assert list(gen.notes(max_events=16, temperature=1.0, top_p=1e-6, seed=9)) == greedy


def test_cli_writes_a_playable_midi_file_and_prints_each_note(tmp_path):
    mid, roll = tmp_path / "out.mid", tmp_path / "roll.png"
    r = run("--midi", str(mid), "--seconds", "10", "--seed", "3", "--roll", str(roll))
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines and all(len(ln.split()) == 2 for ln in lines)  # "G4 1" or "rest 0.5"
    notes = read_midi(mid)
    assert notes and seconds_of(notes, 90) >= 10 - 1e-9
    f = mido.MidiFile(str(mid))
    assert f.length == pytest.approx(seconds_of(notes, 90), abs=1.0)  # rests at the end aside
    assert roll.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "events" in r.stderr and "events/s" in r.stderr


def test_cli_json_and_a_prompt_from_midi(tmp_path):
    start = tmp_path / "start.mid"
    opening = [Note(67, 1.0), Note(67, 1.0), Note(69, 1.0), Note(71, 2.0)]
    write_midi(opening, start, tempo=90)
    mid = tmp_path / "out.mid"
    r = run(
        str(PATH), "--midi", str(mid), "--events", "20", "--prompt-midi", str(start),
        "--temperature", "0.9", "--top-k", "20", "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    facts = json.loads(r.stdout)
    assert facts["events"] == 20 == len(facts["notes"]) and facts["prompt_events"] == 4
    assert 0 <= facts["in_key"] <= 1 and facts["files"] == [str(mid)]
    assert read_midi(mid)[:4] == opening


@pytest.mark.skipif(bool(wav_tools()[2]), reason=f"WAV rendering needs {wav_tools()[2]}")
def test_wav_is_rendered_with_fluidsynth(tmp_path):
    wav = tmp_path / "out.wav"
    r = run("--midi", str(tmp_path / "o.mid"), "--seconds", "3", "--wav", str(wav))
    assert r.exit_code == 0, r.output
    with wave.open(str(wav)) as w:
        assert w.getnframes() / w.getframerate() >= 2.5


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["--seconds", "0"], 2, ["--seconds must be > 0"]),
        (["--seconds", "inf"], 2, ["--seconds must be > 0 and finite"]),
        (["--seconds", "nan"], 2, ["--seconds must be > 0 and finite"]),
        (["--events", "0"], 2, ["--events must be >= 1"]),
        (["--temperature", "-1"], 2, ["--temperature"]),
        (["--top-p", "2"], 2, ["--top-p"]),
        (["--tempo", "0"], 2, ["--tempo"]),
        (["--program", "300"], 2, ["--program"]),
    ],
)
def test_bad_options_are_one_clear_line(args, code, words, tmp_path):
    one_clear_line(run("--midi", str(tmp_path / "o.mid"), *args), code, *words)


def test_bad_prompt_files_are_one_clear_line(tmp_path):
    out = str(tmp_path / "o.mid")
    corrupt = tmp_path / "bad.mid"
    corrupt.write_bytes(b"MThd garbage")
    one_clear_line(run("--midi", out, "--prompt-midi", str(corrupt)), 5, "not a readable MIDI")
    one_clear_line(run("--midi", out, "--prompt-midi", str(tmp_path / "no.mid")), 5, "does not")
    silent = tmp_path / "silent.mid"
    write_midi([Note(None, 4.0)], silent)
    one_clear_line(run("--midi", out, "--prompt-midi", str(silent)), 5, "has no notes")


def test_the_wrong_kind_of_model_names_the_way_out(tmp_path):
    one_clear_line(run(str(CHAR_LM), "--midi", str(tmp_path / "o.mid")), 2, "'generate' model")
    one_clear_line(run(str(PATH), "--prompt", "The "), 2, "--midi OUT.mid")
    with pytest.raises(UsageError, match="'generate' model"):
        MusicGenerator(edgernn.load(CHAR_LM))


def test_the_task_is_in_the_registry_and_inspect_shows_it():
    from edgernn.tasks.registry import task_of

    model = edgernn.load(PATH)
    assert type(task_of(model.signature).wrap(model)).__name__ == "MusicGenerator"
    r = CliRunner().invoke(main, ["inspect", str(PATH)])
    assert r.exit_code == 0 and "music" in r.stdout


def test_wav_without_fluidsynth_or_soundfont_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no fluidsynth on an empty PATH
    r = run("--midi", str(tmp_path / "o.mid"), "--wav", str(tmp_path / "o.wav"))
    one_clear_line(r, 2, "--wav needs", "fluidsynth")
    assert not Path(tmp_path / "o.mid").exists()  # refused before anything was generated


def test_text_flags_with_midi_and_music_flags_without_it_name_the_fix(tmp_path):
    out = str(tmp_path / "o.mid")
    one_clear_line(
        run("--midi", out, "--prompt", "The "), 2, "--prompt is for text", "--prompt-midi"
    )
    one_clear_line(run("--prompt", "The ", "--seconds", "5"), 2, "--seconds is for music", "--midi")
    one_clear_line(run("--prompt", "The ", "--wav", "x.wav"), 2, "--wav is for music")


def test_without_mido_midi_out_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mido", None)  # import mido raises ImportError
    r = run("--midi", str(tmp_path / "o.mid"), "--events", "3")
    one_clear_line(r, 2, "pip install 'edgernn[music]'")
    assert r.stdout == ""  # refused before generating
