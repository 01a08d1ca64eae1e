"""End to end on tiny trained taggers: `edgernn train tag`, then `edgernn tag` on text and on
stdin, the Python API, a streaming model with --lag, sentences longer than the window, verify,
and every bad input as one clear line."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from cli_checks import one_clear_line  # noqa: E402
from click.testing import CliRunner  # noqa: E402

import edgernn  # noqa: E402
from edgernn.cli import main  # noqa: E402
from edgernn.tasks.tag import Tagger, tokenize  # noqa: E402
from edgernn.train.registry import load_checkpoint  # noqa: E402
from edgernn.train.tag.data import SHIPPED  # noqa: E402
from edgernn.train.tag.train import evaluate, predict  # noqa: E402

TINY = ["--hidden", "8", "--embed", "8", "--char-filters", "8", "--quiet"]


def _train(out, *extra: str) -> dict:
    args = ["train", "tag", "--data", "cc0:ner", "--epochs", "1", "--out", str(out), "--json"]
    r = CliRunner().invoke(main, [*args, *TINY, *extra])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("ner")
    return out, _train(out, "--max-len", "9")


@pytest.fixture(scope="module")
def streaming(tmp_path_factory):
    out = tmp_path_factory.mktemp("ner-stream")
    return out, _train(out, "--streaming")


def test_train_reports_entity_f1_from_the_graph(trained):
    out, report = trained
    test = report["metrics"]["test"]
    assert set(test["per_type"]) <= {"PER", "ORG", "LOC", "MISC"}
    assert 0.0 <= test["micro"]["f1"] <= 1.0 and test["sentences"] == 40
    assert report["export"]["parity"]["max_abs_error"] <= 1e-5
    assert (out / "model.onnx").is_file() and (out / "checkpoint.pt").is_file()


def test_runtime_tags_equal_pytorch_tags(trained):
    """The graph (in windows of 9 tokens here) and the numpy Viterbi give the PyTorch model's
    own tags on sentences that fit the window, and tag every token of longer ones."""
    from edgernn.train.tag.conll import read_conll
    from edgernn.train.tag.data import Vocab, encode

    out, _ = trained
    ckpt = load_checkpoint(out / "checkpoint.pt", "tag")
    tagger = Tagger(edgernn.load(out / "model.onnx", provider="cpu"))
    sentences = read_conll(SHIPPED)[:60]
    vocab = Vocab(
        tuple(ckpt.signature["tokenizer"]["vocab"]),
        tuple(ckpt.signature["tagger"]["chars"]),
        tuple(ckpt.signature["labels"]),
    )
    want = predict(ckpt.model, encode(sentences, vocab, 16), vocab)
    got = tagger.tag_many([s.tokens for s in sentences])
    short = [i for i, s in enumerate(sentences) if len(s.tokens) <= 9]
    assert short and all(got[i] == want[i] for i in short)
    assert all(len(g) == len(s.tokens) for g, s in zip(got, sentences))
    assert evaluate(ckpt.model, encode(sentences, vocab, 16), sentences, vocab)["sentences"] == 60


def test_tag_text_stdin_and_json(trained):
    out, _ = trained
    model = str(out / "model.onnx")
    r = CliRunner().invoke(main, ["tag", model, "--text", "Angela Merkel visited Paris on Monday"])
    assert r.exit_code == 0 and "visited" in r.stdout and r.stdout.count("\n") == 1
    j = CliRunner().invoke(main, ["tag", model, "--text", "Maria visited Paris.", "--json"])
    rec = json.loads(j.stdout)
    assert rec["tokens"] == ["Maria", "visited", "Paris", "."] and len(rec["tags"]) == 4
    for e in rec["entities"]:
        assert rec["text"][e["char_start"] : e["char_end"]] == e["text"]
    lines = "Maria visited Paris\n\nSiemens opened an office in Tokyo on Friday .\n"
    s = CliRunner().invoke(main, ["tag", model], input=lines)
    recs = [json.loads(x) for x in s.stdout.splitlines()]
    assert [r["line"] for r in recs] == [1, 3] and "2 sentences" in s.stderr


def test_streaming_model_with_lag(streaming):
    out, report = streaming
    model = edgernn.load(out / "model.onnx", provider="cpu")
    assert model.signature.causal and len(model.signature.states) == 2
    tokens = tokenize("Wei Zhang told Reuters that prices in Lisbon had doubled .")
    full = Tagger(model, lag=len(tokens)).tag(tokens)
    for lag in (0, 1, 2):
        tagger = Tagger(model, lag=lag)
        stream = tagger.stream()
        given = [stream.push(t) for t in tokens]
        assert all(len(g) == (1 if i >= lag else 0) for i, g in enumerate(given))
        rest = stream.flush()
        assert len(rest) == min(lag, len(tokens))
        stepped = [tag for g in given for _, tag in g] + [tag for _, tag in rest]
        assert tagger.tag(tokens) == stepped  # one call over the sentence: the same tags
    r = CliRunner().invoke(
        main, ["tag", str(out / "model.onnx"), "--lag", "1", "--text", " ".join(tokens), "--json"]
    )
    assert r.exit_code == 0 and len(json.loads(r.stdout)["tags"]) == len(full)


def test_verify_and_inspect(trained):
    out, _ = trained
    v = CliRunner().invoke(
        main, ["verify", str(out / "model.onnx"), "--checkpoint", str(out / "checkpoint.pt")]
    )
    assert v.exit_code == 0, v.output
    i = CliRunner().invoke(main, ["inspect", str(out / "model.onnx")])
    assert i.exit_code == 0 and "tag" in i.stdout


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["--text", "  "], 2, ["--text is empty"]),
        (["--text", "Paris", "--lag", "-1"], 2, ["--lag", "-1"]),
        (["--source", "missing.txt"], 5, ["missing.txt"]),
    ],
)
def test_bad_input_is_one_clear_line(trained, args, code, words):
    out, _ = trained
    r = CliRunner().invoke(main, ["tag", str(out / "model.onnx"), *args])
    one_clear_line(r, code, *words)


def test_bench_says_it_has_no_tag_workload(trained):
    out, _ = trained
    r = CliRunner().invoke(main, ["bench", str(out / "model.onnx")])
    one_clear_line(r, 2, "no workload for 'tag' models")


def test_bad_training_data_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.conll"
    bad.write_text("Paris B-LOC\nBerlin\n")
    r = CliRunner().invoke(main, ["train", "tag", "--data", str(bad), "--out", str(tmp_path)])
    one_clear_line(r, 5, "bad.conll:2")
    r = CliRunner().invoke(
        main, ["tag", str(edgernn.core.model.default_model_path()), "--text", "x"]
    )
    one_clear_line(r, 2, "'forecast' model", "edgernn train tag")
