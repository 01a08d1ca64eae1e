"""Reading CoNLL files: columns, -DOCSTART-, comments, schemes; every malformed file named by its
line."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from edgernn.errors import DataError, UsageError  # noqa: E402
from edgernn.train.tag.conll import read_conll  # noqa: E402
from edgernn.train.tag.data import SHIPPED, load_splits  # noqa: E402

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O
. . O O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER
"""


def test_conll_2003_columns_and_iob1(tmp_path):
    p = tmp_path / "train.txt"
    p.write_text(CONLL)
    s = read_conll(p)
    assert [x.tokens for x in s] == [
        ["EU", "rejects", "German", "call", "."],
        ["Peter", "Blackburn"],
    ]
    assert s[0].tags == ["B-ORG", "O", "B-MISC", "O", "O"] and s[1].tags == ["B-PER", "I-PER"]
    chunks = read_conll(p, column=2, scheme="iob1")  # another column, as chosen
    assert chunks[0].tags[:2] == ["B-NP", "B-VP"]


def test_germeval_tabs_comments_and_unicode(tmp_path):
    p = tmp_path / "germeval.tsv"
    p.write_text("#\tsource = wiki\n1\tMünchen\tB-LOC\tO\n2\tist\tO\tO\n\n", encoding="utf-8")
    s = read_conll(p, column=2, token_column=1)
    assert s[0].tokens == ["München", "ist"] and s[0].tags == ["B-LOC", "O"]


@pytest.mark.parametrize(
    "text, words",
    [
        ("EU B-ORG\nrejects\n", ["train.conll:2", "1 column", "--column"]),
        ("EU B-ORG\nrejects X-ORG\n", ["train.conll:2", "'X-ORG'"]),
        ("\n\n", ["holds no sentence"]),
    ],
)
def test_malformed_files_name_the_line(tmp_path, text, words):
    p = tmp_path / "train.conll"
    p.write_text(text)
    with pytest.raises(DataError) as e:
        read_conll(p)
    for w in words:
        assert w in str(e.value)


def test_not_utf8_names_the_line(tmp_path):
    p = tmp_path / "latin1.conll"
    p.write_bytes("Paris B-LOC\n\nK\u00f6ln B-LOC\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.conll:3: not UTF-8.*iconv"):
        read_conll(p)


def test_unknown_scheme_and_generator():
    with pytest.raises(UsageError, match="unknown tag scheme 'bilou'"):
        read_conll(SHIPPED, scheme="bilou")
    with pytest.raises(UsageError, match="synth:entities"):
        load_splits("synth:names", None, None)


def test_the_shipped_file_covers_four_types():
    s = read_conll(SHIPPED)
    assert len(s) >= 300
    kinds = {t[2:] for x in s for t in x.tags if t != "O"}
    assert kinds == {"PER", "ORG", "LOC", "MISC"}
