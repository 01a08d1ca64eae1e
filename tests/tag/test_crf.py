"""The torch CRF against brute-force enumeration, padding invariance of the tagger, and the
runtime's numpy Viterbi against the torch Viterbi on thousands of random sentences."""

from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402

from edgernn.tasks.tag_decode import viterbi  # noqa: E402
from edgernn.train.tag.crf import CRF  # noqa: E402
from edgernn.train.tag.data import Vocab, batch, encode  # noqa: E402
from edgernn.train.tag.model import TagConfig, TagModel  # noqa: E402
from edgernn.train.tag.synth import entity_sentences  # noqa: E402


def _crf(k: int, seed: int) -> CRF:
    torch.manual_seed(seed)
    crf = CRF(k).double()
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_(0, 1)
    return crf


def _score(crf: CRF, emit: torch.Tensor, path: tuple[int, ...]) -> torch.Tensor:
    s = crf.start[path[0]] + crf.end[path[-1]] + sum(emit[t, y] for t, y in enumerate(path))
    return s + sum(crf.trans[a, b] for a, b in itertools.pairwise(path))


@pytest.mark.parametrize("k, lengths", [(2, (1, 3)), (3, (4, 2, 1)), (4, (3, 3))])
def test_forward_algorithm_and_viterbi_match_brute_force(k, lengths):
    crf = _crf(k, seed=k)
    t = max(lengths)
    emit = torch.randn(len(lengths), t, k, dtype=torch.float64)
    mask = torch.arange(t)[None] < torch.tensor(lengths)[:, None]
    tags = torch.randint(0, k, (len(lengths), t))
    with torch.no_grad():
        nll = crf.nll(emit, tags, mask)
    want, best = [], []
    for b, n in enumerate(lengths):
        paths = list(itertools.product(range(k), repeat=n))
        scores = torch.stack([_score(crf, emit[b], p) for p in paths])
        gold = _score(crf, emit[b], tuple(tags[b, :n].tolist()))
        want.append(torch.logsumexp(scores, 0) - gold)
        best.append(list(paths[int(scores.argmax())]))
    assert float(nll) == pytest.approx(float(torch.stack(want).mean().detach()), abs=1e-9)
    assert crf.decode(emit, mask) == best


def test_forbidden_moves_are_never_decoded():
    allowed = torch.tensor([[True, True, False], [True, True, True], [True, True, True]])
    crf = CRF(3, allowed, torch.tensor([True, True, False]))
    emit = torch.zeros(1, 5, 3)
    emit[0, :, 2] = 50.0  # tag 2 wants every position, but may not start nor follow tag 0
    path = crf.decode(emit, torch.ones(1, 5, dtype=torch.bool))[0]
    assert path[0] != 2 and all(not (a == 0 and b == 2) for a, b in itertools.pairwise(path))


def test_padding_never_changes_a_tag():
    """A sentence's emissions and tags are the same alone and in a batch padded to a longer
    sentence (words and characters)."""
    sentences = entity_sentences(12, seed=4)
    vocab = Vocab.build(sentences)
    torch.manual_seed(0)
    model = TagModel(
        TagConfig(
            len(vocab.words), len(vocab.chars), len(vocab.tags), hidden=8, embed=8, char_filters=8
        ),
        *vocab.constraints(),
    ).eval()
    enc = encode(sentences, vocab, model.config.max_chars)
    with torch.no_grad():
        together = batch(enc, torch.arange(12))
        mask = torch.arange(together.words.shape[1])[None] < together.lengths[:, None]
        emit = model.padded(together.words, together.chars, together.lengths)
        tags = model.crf.decode(emit, mask)
        for i, s in enumerate(sentences):
            n = len(s.tokens)
            alone = model(enc.words[i : i + 1, :n], enc.chars[i : i + 1, :n])[0]
            torch.testing.assert_close(alone[0], emit[i, :n], atol=1e-5, rtol=0)
            wide = torch.nn.functional.pad(enc.chars[i : i + 1, :n], (0, 9))  # longer char pad
            torch.testing.assert_close(model(enc.words[i : i + 1, :n], wide)[0], alone)
            one = model.crf.decode(alone, torch.ones(1, n, dtype=torch.bool))[0]
            assert tags[i] == one


def test_numpy_viterbi_matches_torch_on_thousands_of_sentences():
    rng = np.random.default_rng(0)
    k, n = 9, 3000
    names = ["O"] + [f"{p}-{t}" for t in ("PER", "ORG", "LOC", "MISC") for p in ("B", "I")]
    allowed = torch.tensor(
        [[not b.startswith("I-") or a[2:] == b[2:] for b in names] for a in names]
    )
    crf = CRF(k, allowed, torch.tensor([not b.startswith("I-") for b in names])).double()
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_(0, 1)
    lengths = rng.integers(1, 16, size=n)
    emit = torch.from_numpy(rng.normal(0, 3, size=(n, 15, k)))
    mask = torch.arange(15)[None] < torch.from_numpy(lengths)[:, None]
    want = crf.decode(emit, mask)
    trans, start, end = (x.detach().numpy() for x in (crf.trans, crf.start, crf.end))
    got = [viterbi(e[:m].numpy(), trans, start, end) for e, m in zip(emit, lengths)]
    assert got == want
