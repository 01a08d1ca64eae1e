"""Encoder-decoder seq2seq: synthetic reverse task, two-graph export parity, greedy / beam
decoding, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
from click.testing import CliRunner  # noqa: E402

import edgernn  # noqa: E402
from edgernn.cli import main  # noqa: E402
from edgernn.errors import DataError, UsageError  # noqa: E402
from edgernn.tasks.seq2seq import Seq2Seq  # noqa: E402
from edgernn.train.checkpoint import save_checkpoint  # noqa: E402
from edgernn.train.registry import load_checkpoint  # noqa: E402
from edgernn.train.seq2seq.data import read_pairs, synth_reverse, tokenizer  # noqa: E402
from edgernn.train.seq2seq.export import encoder_path, export_seq2seq  # noqa: E402
from edgernn.train.seq2seq.model import Seq2SeqConfig  # noqa: E402
from edgernn.train.seq2seq.train import greedy_torch, signature_fields, train_seq2seq  # noqa: E402

LINES = ["123", "9081", "55512", "3141592", "2718281828", "000111"]


@pytest.fixture(scope="module")
def trained():
    return train_seq2seq(Seq2SeqConfig(steps=1200, quiet=True))


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("s2s") / "model.onnx"
    p = trained.data.sizes
    fields = signature_fields(
        trained.model,
        trained.data.vocab,
        trained.data.source,
        trained.metrics,
        {"max_source_len": p["max_source_len"], "max_target_len": p["max_target_len"]},
    )
    dec, enc = export_seq2seq(trained.model, fields, out)
    return out, dec, enc


@pytest.fixture(scope="module")
def s2s(exported):
    return Seq2Seq(edgernn.load(exported[0], provider="cpu"))


def one_clear_line(r, code: int, *words: str) -> None:
    assert r.exit_code == code, r.output
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in r.output, r.output
    for w in words:
        assert w in err, err


def test_synth_reverse_is_seeded_digit_strings_and_their_reverse():
    a, b = synth_reverse(50, np.random.default_rng(3)), synth_reverse(50, np.random.default_rng(3))
    assert a == b and all(t == s[::-1] and s.isdigit() and 3 <= len(s) <= 10 for s, t in a)


def test_two_column_files(tmp_path: Path):
    csv = tmp_path / "p.csv"
    csv.write_text('source,target\nab,ba\n"x,y",z\n', encoding="utf-8")
    assert read_pairs(str(csv)) == [("ab", "ba"), ("x,y", "z")]
    tsv = tmp_path / "p.tsv"
    tsv.write_text("hello\tbonjour\ncat\tchat\n", encoding="utf-8")
    assert read_pairs(str(tsv)) == [("hello", "bonjour"), ("cat", "chat")]
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\nc\n", encoding="utf-8")
    with pytest.raises(DataError, match="row 2 has 1 column"):
        read_pairs(str(bad))
    with pytest.raises(DataError, match="does not exist"):
        read_pairs(str(tmp_path / "nope.csv"))
    with pytest.raises(UsageError, match="synth:reverse"):
        train_seq2seq(Seq2SeqConfig(data="synth:nope", steps=1, quiet=True))


def test_training_learns_to_reverse(trained):
    acc = trained.metrics[
        "val_exact_match"
    ]  # 200 held-out strings of length 3-10, whole-string exact match
    print(f"val exact match {acc:.3f}, val loss {trained.metrics['val_loss']:.3f}")
    assert acc >= 0.8  # chance is ~0 (10^-3 at the shortest length)
    tok = tokenizer(trained.data.vocab)
    assert greedy_torch(trained.model, "12345", tok) == "54321"


def test_both_graphs_match_pytorch(trained, exported):
    out, dec, enc = exported
    assert encoder_path(out).exists() and dec.provenance["encoder"] == "model.encoder.onnx"
    assert (
        dec.task == enc.task == "seq2seq"
        and dec.provenance["role"] == "decoder"
        and enc.provenance["role"] == "encoder"
    )
    assert dec.parity["max_abs_error"] <= 1e-5 and enc.parity["max_abs_error"] <= 1e-5
    encoder = edgernn.load(encoder_path(out), provider="cpu")
    decoder = edgernn.load(out, provider="cpu")
    tok, net, worst = tokenizer(trained.data.vocab), trained.model, 0.0
    for src, tgt in [("123", "321"), ("2718281828", "8281828172"), ("90", "0000000000")]:
        ids = torch.tensor([tok.encode(src)])
        _, states = encoder.run(ids.numpy(), encoder.initial_state(1))
        with torch.no_grad():
            h, c = net.encode(ids)
            t_in = torch.tensor([[1, *tok.encode(tgt)]])
            want, _, _ = net.decode(t_in, h, c)  # full teacher-forced sequence
        worst = max(
            worst,
            float(np.abs(states[0] - h.numpy()).max()),
            float(np.abs(states[1] - c.numpy()).max()),
        )
        for t in range(t_in.shape[1]):  # the decoder one step at a time, state fed back
            logits, states = decoder.run(t_in[:, t : t + 1].numpy(), states)
            worst = max(worst, float(np.abs(logits[0, 0] - want[0, t].numpy()).max()))
    print(f"two-graph stepwise max abs error vs PyTorch {worst:.2e}")
    assert worst <= 1e-5


def test_runtime_greedy_matches_pytorch_and_beam_one(trained, s2s):
    tok = tokenizer(trained.data.vocab)
    for line in LINES:
        g = s2s.greedy_hypothesis(line, 30)
        b1 = s2s.beam_hypothesis(line, 1, 30)
        assert g.text == greedy_torch(trained.model, line, tok, 30)
        assert (b1.text, b1.tokens, b1.finished) == (g.text, g.tokens, g.finished)
        assert b1.logprob == pytest.approx(g.logprob, abs=1e-9)
        assert g.logprob == pytest.approx(s2s.logprob(line, g.text), abs=1e-4)


def test_beam_search_scores_at_least_greedy_with_one_call_per_step(s2s):
    for line in LINES:
        g = s2s.greedy_hypothesis(line, 30)
        b = s2s.beam_hypothesis(line, 4, 30)
        assert b.finished and b.score >= g.score - 1e-9
        assert s2s.stats.decoder_calls <= len(b.tokens) + 1 + 4  # beams share each call
    assert s2s.greedy("12345") == "54321" and s2s.beam("12345", 3) == "54321"


def test_checkpoint_round_trip(trained, tmp_path: Path):
    fields = signature_fields(
        trained.model, trained.data.vocab, trained.data.source, trained.metrics
    )
    path = save_checkpoint(tmp_path / "c.pt", trained.model, fields, kind="seq2seq")
    ckpt = load_checkpoint(path, "seq2seq")
    net, raw = ckpt.model, ckpt.signature
    tok = tokenizer(raw["tokenizer"]["vocab"])
    assert greedy_torch(net, "4567", tok) == greedy_torch(trained.model, "4567", tok)
    (tmp_path / "bad.pt").write_bytes(b"nope")
    with pytest.raises(DataError, match="cannot be read"):
        load_checkpoint(tmp_path / "bad.pt", "seq2seq")


def test_cli_train_then_generate_input(tmp_path: Path):
    runner = CliRunner()
    out = tmp_path / "run"
    r = runner.invoke(
        main, ["train", "seq2seq", "--steps", "150", "--pairs", "400", "--quiet", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert "val exact match" in r.stdout and (out / "model.encoder.onnx").exists()
    report = json.loads((out / "report.json").read_text())
    assert report["export"]["decoder_parity"]["max_abs_error"] <= 1e-5
    model = str(out / "model.onnx")
    g = runner.invoke(main, ["generate", model, "--input", "123", "--max-tokens", "20"])
    assert g.exit_code == 0 and len(g.stdout.strip().splitlines()) <= 1
    j = runner.invoke(main, ["generate", model, "--input", "123", "--beam", "3", "--json"])
    assert j.exit_code == 0, j.output
    assert {"input", "text", "logprob", "score", "beam"} <= set(json.loads(j.stdout))
    one_clear_line(runner.invoke(main, ["generate", model]), 2, "seq2seq model", "--input")
    one_clear_line(runner.invoke(main, ["generate", model, "--input", ""]), 2, "--input is empty")
    one_clear_line(
        runner.invoke(main, ["generate", model, "--input", "1", "--beam", "0"]),
        2,
        "--beam must be >= 1",
    )
    one_clear_line(
        runner.invoke(main, ["generate", str(out / "model.encoder.onnx"), "--input", "1"]),
        2,
        "encoder graph",
    )
    one_clear_line(
        runner.invoke(main, ["stream", model, "--source", "demo"]), 2, "'seq2seq' model", "--input"
    )
    one_clear_line(
        runner.invoke(main, ["generate", "--prompt", "The ", "--beam", "2"]),
        2,
        "--beam is for seq2seq",
    )
    one_clear_line(runner.invoke(main, ["generate", "--input", "abc"]), 2, "--input is for seq2seq")
    (out / "model.encoder.onnx").unlink()
    one_clear_line(runner.invoke(main, ["generate", model, "--input", "1"]), 3, "encoder graph")
    one_clear_line(
        runner.invoke(
            main,
            [
                "train",
                "seq2seq",
                "--data",
                str(tmp_path / "no.csv"),
                "--quiet",
                "--out",
                str(tmp_path / "x"),
            ],
        ),
        5,
        "does not exist",
    )
