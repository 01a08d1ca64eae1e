"""`edgernn train music` on a tiny corpus of real MIDI files written with mido: corrupt and
note-less files skipped and counted, the parse cache, the report (held-out perplexity next to
the n-gram baselines, statistics), export parity, and `edgernn generate --midi` on the result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_checks import one_clear_line

torch = pytest.importorskip("torch")
pytest.importorskip("music21", reason="the music extra (music21) reads scores for training")
mido = pytest.importorskip("mido", reason="the music extra (mido) writes MIDI")

from click.testing import CliRunner  # noqa: E402

import edgernn  # noqa: E402
from edgernn.cli import main  # noqa: E402
from edgernn.tasks.midi import read_midi, write_midi  # noqa: E402
from edgernn.tasks.music import MusicGenerator, Note  # noqa: E402

TINY = ["--hidden", "12", "--embed", "4", "--window", "16", "--steps", "6", "--batch-size", "4"]
TUNES = [  # (pitches, quarters): short melodies in C major and A minor
    ([60, 62, 64, 65, 67, 65, 64, 62, 60], [1, 1, 1, 1, 2, 1, 1, 1, 2]),
    ([67, 67, 69, 67, 72, 71], [0.5, 0.5, 1, 1, 1, 2]),
    ([69, 71, 72, 74, 76, 72, 69], [1, 0.5, 0.5, 1, 1, 1, 2]),
    ([64, 65, 67, 72, 71, 69, 67, 65, 64], [0.5, 0.5, 1, 1, 0.5, 0.5, 1, 1, 2]),
    ([72, 71, 69, 67, 65, 64, 62, 60], [1, 1, 1, 1, 1, 1, 1, 3]),
]


def tune(pitches: list[int], quarters: list[float]) -> list[Note]:
    return [Note(p, float(q)) for p, q in zip(pitches, quarters)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("midis")
    for i, (p, q) in enumerate(TUNES):
        write_midi(tune(p, q), folder / f"tune{i}.mid", tempo=100)
    (folder / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage, not a MIDI file")
    silent = mido.MidiFile()
    silent.tracks.append(mido.MidiTrack([mido.MetaMessage("end_of_track", time=0)]))
    silent.save(str(folder / "silent.mid"))
    return folder


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def train(*args: str, cache: Path):
    return CliRunner(env={"EDGERNN_CACHE_DIR": str(cache)}).invoke(
        main, ["train", "music", *args, "--quiet", *TINY]
    )


@pytest.fixture(scope="module")
def trained(corpus, cache, tmp_path_factory) -> tuple[Path, dict, str]:
    out = tmp_path_factory.mktemp("run")
    r = train("--data", str(corpus), "--out", str(out), "--val", "0.2", cache=cache)
    assert r.exit_code == 0, r.output
    return out, json.loads((out / "report.json").read_text()), r.stdout


def test_corrupt_and_empty_files_are_skipped_and_counted_the_rest_train(trained):
    out, report, stdout = trained
    d = report["data"]
    assert d["scores"] == 5 and d["skipped_corrupt"] == 1 and d["skipped_empty"] == 1
    assert any(s.startswith("corrupt.mid: ") for s in report["skipped"])
    assert "silent.mid: no notes" in report["skipped"]
    assert "5 scores (2 skipped)" in stdout
    assert (out / "model.onnx").is_file() and (out / "checkpoint.pt").is_file()


def test_report_has_heldout_perplexity_baselines_and_music_statistics(trained):
    _, report, stdout = trained
    h, b = report["heldout"], report["baselines"]
    assert h["pieces"] == 1 and h["events"] > 0 and h["perplexity"] > 1
    assert b["unigram"]["perplexity"] > 1 and b["bigram"]["perplexity"] > 1
    g = report["music"]["generated_vs_training"]
    assert 0 <= g["pitch_class_distance"] <= 1 and 0 <= g["duration_distance"] <= 1
    assert 0 <= g["in_key"] <= 1 and report["music"]["events_per_s"] > 0
    assert "perplexity" in stdout and "bigram" in stdout and "in key" in stdout


def test_the_second_run_reads_the_parse_cache(corpus, cache, tmp_path):
    r = train("--data", str(corpus), "--out", str(tmp_path), "--no-export", cache=cache)
    assert r.exit_code == 0, r.output
    d = json.loads((tmp_path / "report.json").read_text())["data"]
    assert d["parsed"] == 0 and d["from_cache"] == 7


def test_the_exported_graph_verifies_against_its_checkpoint(trained):
    out, _, _ = trained
    r = CliRunner().invoke(
        main, ["verify", str(out / "model.onnx"), "--checkpoint", str(out / "checkpoint.pt")]
    )
    assert r.exit_code == 0, r.output
    assert edgernn.load(out / "model.onnx").signature.task == "music"


def test_generate_writes_a_midi_file_continuing_a_prompt(trained, corpus, tmp_path):
    out, _, _ = trained
    mid = tmp_path / "out.mid"
    r = CliRunner().invoke(
        main,
        [
            "generate",
            str(out / "model.onnx"),
            "--midi",
            str(mid),
            "--events",
            "12",
            "--json",
            "--prompt-midi",
            str(corpus / "tune0.mid"),
            "--seed",
            "3",
        ],
    )
    assert r.exit_code == 0, r.output
    facts = json.loads(r.stdout)
    assert facts["events"] == 12 and facts["prompt_events"] == len(TUNES[0][0])
    notes = read_midi(mid)  # prompt + generated, a valid MIDI file
    assert notes[: len(TUNES[0][0])] == tune(*TUNES[0])
    gen = MusicGenerator(edgernn.load(out / "model.onnx"))
    assert len(list(gen.notes(max_events=5, seed=1))) == 5


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda d: None, ["no score files", "corpus:bach"]),
        (lambda d: (d / "a.mid").write_bytes(b"not midi"), ["no readable score", "1 unreadable"]),
        (lambda d: d / "missing", None),
    ],
)
def test_a_folder_with_no_readable_scores_is_one_clear_line(make, words, tmp_path, cache):
    folder = tmp_path / "scores"
    folder.mkdir()
    made = make(folder)
    data = str(made) if isinstance(made, Path) else str(folder)
    r = train("--data", data, "--out", str(tmp_path / "out"), cache=cache)
    one_clear_line(r, 5, *(words or ["does not exist"]))


def test_one_score_is_not_enough_to_hold_one_out(corpus, tmp_path, cache):
    r = train("--data", str(corpus / "tune1.mid"), "--out", str(tmp_path), cache=cache)
    one_clear_line(r, 5, "at least 2")


def test_bad_options_are_one_line_before_any_parsing(tmp_path, cache):
    r = train("--transpose", "20", "--out", str(tmp_path), cache=cache)
    one_clear_line(r, 2, "--transpose")


def test_an_lstm_trains_exports_and_generates_too(corpus, cache, tmp_path):
    r = train("--data", str(corpus), "--arch", "lstm", "--out", str(tmp_path), cache=cache)
    assert r.exit_code == 0, r.output
    model = edgernn.load(tmp_path / "model.onnx")
    assert model.signature.arch == "lstm" and len(model.signature.states) == 2  # h and c
    assert len(list(MusicGenerator(model).notes(max_events=4, seed=0))) == 4


def test_the_bach_chorales_come_offline_with_music21():
    from edgernn.train.music.corpus import score_paths

    paths, source = score_paths("corpus:bach")
    assert len(paths) >= 371 and all(p.is_file() for p in paths)
    assert source.startswith("music21 corpus bach")


def test_an_unknown_corpus_name_is_one_clear_line(tmp_path, cache):
    r = train("--data", "corpus:nosuchcomposer", "--out", str(tmp_path), cache=cache)
    one_clear_line(r, 5, "corpus:nosuchcomposer", "corpus:bach")


BOOK = """X:1
T:First tune
M:4/4
L:1/4
K:C
C D E F | G2 E2 | F D B, D | C4 |]

X:2
T:Second tune
M:3/4
L:1/8
K:G
G2 B2 d2 | c2 A2 F2 | G6 |]
"""


def test_each_tune_of_an_abc_book_is_a_piece(corpus, tmp_path, cache):
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "book.abc").write_text(BOOK)
    write_midi(tune(*TUNES[0]), folder / "tune.mid")
    r = train("--data", str(folder), "--out", str(tmp_path / "out"), "--no-export", cache=cache)
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["data"]["scores"] == 3
    from edgernn.train.music.corpus import read_scores

    pieces = {p.name: p.notes for p in read_scores(str(folder)).pieces}
    assert set(pieces) == {"book#1", "book#2", "tune"}
    assert [n.pitch for n in pieces["book#1"][:4]] == [60, 62, 64, 65]
    assert [n.quarters for n in pieces["book#2"]] == [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 3.0]


def test_quiet_json_prints_the_report_alone(corpus, tmp_path):
    fresh = tmp_path / "cache"  # parsing too (music21 could warn): nothing on stderr
    r = train("--data", str(corpus), "--out", str(tmp_path), "--no-export", "--json", cache=fresh)
    assert r.exit_code == 0, r.output
    assert r.stderr == "" and json.loads(r.stdout)["task"] == "music"


def drums_then_lead(path: Path, lead: list[int]) -> None:
    """A MIDI file whose first track is drums (channel 10) and second a lead melody."""
    mid = mido.MidiFile(ticks_per_beat=480)
    drums = mido.MidiTrack([mido.MetaMessage("track_name", name="Drums")])
    lead_track = mido.MidiTrack([mido.MetaMessage("track_name", name="Lead")])
    for p in lead:
        drums += [mido.Message("note_on", channel=9, note=81, velocity=100, time=0),
                  mido.Message("note_off", channel=9, note=81, velocity=0, time=480)]  # fmt: skip
        lead_track += [mido.Message("note_on", note=p, velocity=90, time=0),
                       mido.Message("note_off", note=p, velocity=0, time=480)]  # fmt: skip
    mid.tracks += [drums, lead_track]
    mid.save(str(path))


def test_a_drum_track_is_never_the_melody(tmp_path, cache):
    from edgernn.train.music.corpus import read_scores

    lead = [60, 62, 64, 65, 67, 65, 64, 62]
    drums_then_lead(tmp_path / "song.mid", lead)
    (piece,) = read_scores(str(tmp_path)).pieces
    assert [n.pitch for n in piece.notes] == lead
    assert [n.pitch for n in read_midi(tmp_path / "song.mid")] == lead  # the runtime's prompt too
