"""The formats labelled sequences come in: UEA/UCR .ts (univariate, multivariate, unequal
length, missing values, timestamps), fastText, CSV; encodings detected or given, and one clear
line for bytes a file's encoding cannot hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from cli_checks import one_clear_line  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from edgernn.cli import main  # noqa: E402
from edgernn.errors import DataError, UsageError  # noqa: E402
from edgernn.train.classify.data import load_dataset  # noqa: E402

MULTI = """# a comment
@problemName Toy
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true walk run
@data
1,2,3,4:5,6,7,8:walk
0.5,?,1.5:2,2,2:run
9,8,?,?:1,2,?,?:walk
"""


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_multivariate_unequal_ts_with_missing_values(tmp_path):
    data = load_dataset(str(write(tmp_path, "toy.ts", MULTI)))
    assert data.kind == "sensor" and data.labels == ("walk", "run")
    assert [s.shape for s in data.sequences] == [(4, 2), (3, 2), (2, 2)]  # trailing ? cut
    assert data.y.tolist() == [0, 1, 0]
    assert data.sequences[1][:, 0].tolist() == [0.5, 0.5, 1.5]  # the inner ? carried forward
    assert data.notes["missing_values_filled"] == 1


def test_univariate_ts_with_timestamps(tmp_path):
    ts = "@problemName t\n@timeStamps true\n@univariate true\n@classLabel true a b\n@data\n"
    ts += "(0,1.0),(1,2.0),(2,3.0):a\n(0,4.0),(1,5.0):b\n"
    data = load_dataset(str(write(tmp_path, "t.ts", ts)))
    assert [s[:, 0].tolist() for s in data.sequences] == [[1.0, 2.0, 3.0], [4.0, 5.0]]


@pytest.mark.parametrize(
    "body, words",
    [
        ("@classLabel false\n@data\n1,2:a\n", ["no class labels", "@classLabel true"]),
        ("@classLabel true a b\n@data\n1,2:c\n", ["line 3", "'c'", "not in @classLabel"]),
        ("@classLabel true a\n@data\n1,x:a\n", ["line 3", "dimension 1", "'?'"]),
        ("@classLabel true a\n1,2:a\n", ["line 2", "before @data"]),
        ("@dimensions 2\n@classLabel true a\n@data\n1,2:a\n", ["1 dimensions", "header says 2"]),
    ],
)
def test_broken_ts_files_name_the_line_and_the_fix(tmp_path, body, words):
    with pytest.raises(DataError) as e:
        load_dataset(str(write(tmp_path, "bad.ts", body)))
    assert all(w in str(e.value) for w in words), str(e.value)


def test_fasttext_lines_take_their_first_label(tmp_path):
    ft = "__label__pos a fine film\n\n__label__neg __label__pos dull and long\n"
    data = load_dataset(str(write(tmp_path, "reviews.txt", ft)))
    assert data.kind == "text" and data.sequences == ["a fine film", "dull and long"]
    assert [data.labels[i] for i in data.y] == ["pos", "neg"]
    assert data.notes["multi_label_lines_first_label_kept"] == 1
    with pytest.raises(DataError, match="line 2: no __label__"):
        load_dataset(str(write(tmp_path, "bad.txt", "__label__a x\nno label here\n")))


def test_cp1252_is_read_with_a_note_and_a_bom_is_dropped(tmp_path):
    raw = "__label__pos caf\u00e9 \u201cgood\u201d\n__label__neg bad\n".encode("cp1252")
    data = load_dataset(str(write(tmp_path, "w.txt", raw)))
    assert data.sequences[0] == "caf\u00e9 \u201cgood\u201d"
    assert "not UTF-8 (byte 0xe9 at offset 16, line 1); read it as cp1252" in data.notes["encoding"]
    bom = b"\xef\xbb\xbfbody,topic\nhello,a\nbye,b\n"
    data = load_dataset(str(write(tmp_path, "b.csv", bom)), text="body", label="topic")
    assert data.sequences == ["hello", "bye"] and "encoding" not in data.notes


def test_bytes_invalid_in_the_given_encoding_name_offset_and_line(tmp_path):
    raw = b"__label__a ok\n__label__b caf\xe9\n"
    path = write(tmp_path, "x.txt", raw)
    assert load_dataset(str(path), encoding="latin-1").sequences[1] == "caf\u00e9"
    with pytest.raises(DataError) as e:
        load_dataset(str(path), encoding="utf-8")
    assert "byte 0xe9 at offset 28, line 2 is not valid utf-8" in str(e.value)
    assert "--encoding" in str(e.value)
    with pytest.raises(UsageError, match="unknown --encoding 'klingon'"):
        load_dataset(str(path), encoding="klingon")


def test_the_cli_says_one_line_for_a_bad_file(tmp_path):
    path = write(tmp_path, "x.txt", b"__label__a ok\n__label__b caf\xe9\n")
    r = CliRunner().invoke(
        main, ["train", "classify", "--data", str(path), "--encoding", "utf-8", "--quiet"]
    )
    one_clear_line(r, 5, "offset 28, line 2", "--encoding")
    r = CliRunner().invoke(main, ["train", "classify", "--data", str(tmp_path / "x.weird")])
    one_clear_line(r, 5, "is not a file")
    write(tmp_path, "x.weird", "1")
    r = CliRunner().invoke(main, ["train", "classify", "--data", str(tmp_path / "x.weird")])
    one_clear_line(r, 2, "--format")


def test_csv_split_column_is_honoured_exactly(tmp_path):
    rows = ["sid,t,cls,part"]
    parts = {"a": "train", "b": "train", "c": "Validation", "d": "test", "e": "TEST"}
    for sid, part in parts.items():
        rows += [f"{sid},{v},{'x' if sid in 'ace' else 'y'},{part}" for v in range(3)]
    path = write(tmp_path, "s.csv", "\n".join(rows) + "\n")
    data = load_dataset(str(path), seq_id="sid", label="cls", split_column="part")
    assert data.features == ("t",) and data.split == ["train", "train", "val", "test", "test"]
    bad = write(tmp_path, "bad.csv", "sid,t,cls,part\na,1,x,train\na,2,x,test\n")
    with pytest.raises(DataError, match="sequence 'a' is in more than one split"):
        load_dataset(str(bad), seq_id="sid", label="cls", split_column="part")
    odd = write(tmp_path, "odd.csv", "body,cls,part\nhi,x,holdout\n")
    with pytest.raises(DataError, match="line 2: --split-column value 'holdout'"):
        load_dataset(str(odd), text="body", label="cls", split_column="part")
    assert np.array_equal(data.y, [0, 1, 0, 1, 0])
