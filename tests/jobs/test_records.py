"""Batch inputs: every source reads the same rows sequentially and by random range."""

from __future__ import annotations

import json

import pytest

from pretrained.errors import InputNotFoundError, InvalidOptionError, UnreadableInputError
from pretrained.sources.records import RecordSpec, open_records

TEXTS = [f"row number {i}" for i in range(23)]


def _all(source, step: int = 5):
    rows = []
    for start in range(0, source.total, step):
        rows += source.read(start, start + step)
    return rows


def _check(source, ids=None):
    assert source.total == len(TEXTS)
    rows = _all(source)
    assert [r.index for r in rows] == list(range(len(TEXTS)))
    assert [r.value for r in rows] == TEXTS
    assert [r.id for r in rows] == (ids if ids is not None else list(range(len(TEXTS))))
    # an unaligned range in the middle reads the same rows
    middle = source.read(7, 13)
    assert [r.value for r in middle] == TEXTS[7:13]


def test_jsonl_with_blank_lines_nested_field_and_id(tmp_path):
    path = tmp_path / "in.jsonl"
    lines = []
    for i, t in enumerate(TEXTS):
        lines.append(json.dumps({"meta": {"body": t}, "key": f"k{i}"}))
        if i % 4 == 0:
            lines.append("   ")
    path.write_text("\n".join(lines) + "\n")
    source = open_records(str(path), RecordSpec(column="meta.body", id_column="key"), stride=5)
    _check(source, ids=[f"k{i}" for i in range(len(TEXTS))])


def test_jsonl_bad_line_is_a_row_error(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "ok"}\n{not json\n{"text": "ok too"}\n')
    rows = open_records(str(path), RecordSpec(), stride=2).read(0, 3)
    assert [r.value for r in rows] == ["ok", None, "ok too"]
    assert rows[1].error and "JSON" in rows[1].error


def test_csv_with_quoted_newlines(tmp_path):
    import csv

    path = tmp_path / "in.csv"
    texts = [t if i % 3 else f"{t}\nsecond line, with comma" for i, t in enumerate(TEXTS)]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "review"])
        for i, t in enumerate(texts):
            writer.writerow([f"r{i}", t])
    source = open_records(str(path), RecordSpec(column="review", id_column="id"), stride=4)
    rows = _all(source, step=4)
    assert [r.value for r in rows] == texts
    assert [r.id for r in rows] == [f"r{i}" for i in range(len(TEXTS))]
    assert [r.value for r in source.read(5, 9)] == texts[5:9]


def test_parquet_across_row_groups(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    table = pa.table({"text": TEXTS, "n": list(range(100, 100 + len(TEXTS)))})
    pq.write_table(table, path, row_group_size=4)
    assert pq.ParquetFile(path).metadata.num_row_groups == 6
    source = open_records(str(path), RecordSpec(id_column="n"), stride=5)
    _check(source, ids=list(range(100, 100 + len(TEXTS))))
    assert source.id_type == "int"


def test_saved_dataset_and_hub_layout(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict({"sentence": TEXTS, "label": [0] * len(TEXTS)})
    datasets.DatasetDict({"train": ds, "test": ds.select(range(3))}).save_to_disk(
        tmp_path / "saved"
    )
    _check(open_records(str(tmp_path / "saved"), RecordSpec(), stride=5))
    test_split = open_records(str(tmp_path / "saved"), RecordSpec(split="test"), stride=5)
    assert test_split.total == 3

    hub = tmp_path / "hub"
    (hub / "data").mkdir(parents=True)
    (hub / "README.md").write_text("---\nlicense: mit\n---\n# a dataset\n")
    (hub / "data" / "train.jsonl").write_text(
        "".join(json.dumps({"text": t}) + "\n" for t in TEXTS)
    )
    _check(open_records(str(hub), RecordSpec(), stride=5))


def test_folder_of_files(tmp_path):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.txt").write_text("bee")
    (folder / "a.md").write_text("# ay")
    (folder / "sub" / "c.txt").write_text("sea")
    (folder / "binary.bin").write_bytes(b"\x00\x01\x02" * 100)
    (folder / ".hidden").write_text("skip me")
    source = open_records(str(folder), RecordSpec(), stride=2)
    rows = _all(source, step=2)
    assert [r.id for r in rows] == ["a.md", "b.txt", "binary.bin", "sub/c.txt"]
    assert [r.value for r in rows] == ["# ay", "bee", None, "sea"]
    assert "binary" in rows[2].error
    audio = open_records(str(folder), RecordSpec(kind="audio"), stride=2)
    assert audio.read(1, 2)[0].value == str(folder / "b.txt")


def test_column_errors_name_the_columns(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"a": "x", "b": "y"}\n')
    with pytest.raises(InvalidOptionError, match="a, b"):
        open_records(str(path), RecordSpec(), stride=2)
    with pytest.raises(InvalidOptionError, match="no column 'c'"):
        open_records(str(path), RecordSpec(column="c"), stride=2)
    with pytest.raises(InvalidOptionError, match="id-column"):
        open_records(str(path), RecordSpec(column="a", id_column="zz"), stride=2)


def test_bad_inputs(tmp_path):
    with pytest.raises(InputNotFoundError):
        open_records(str(tmp_path / "nope.jsonl"), RecordSpec())
    (tmp_path / "data.xyz").write_text("hello")
    with pytest.raises(UnreadableInputError, match="extension"):
        open_records(str(tmp_path / "data.xyz"), RecordSpec())
    (tmp_path / "fake.parquet").write_text("not parquet")
    with pytest.raises(UnreadableInputError, match="Parquet"):
        open_records(str(tmp_path / "fake.parquet"), RecordSpec())
    with pytest.raises(InvalidOptionError):
        open_records(str(tmp_path / "data.xyz"), RecordSpec(), input_format="excel")


def test_sources_pickle_without_handles(tmp_path):
    import pickle

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": TEXTS}), path)
    source = open_records(str(path), RecordSpec(), stride=5)
    source.read(0, 5)  # opens the file and caches a row group
    clone = pickle.loads(pickle.dumps(source))
    assert [r.value for r in clone.read(0, 23)] == TEXTS


def test_text_lines_and_tsv_read_by_range_and_whole_rows(tmp_path):
    txt = tmp_path / "in.txt"
    txt.write_text("\n".join(t + ("\n" if i % 5 == 0 else "") for i, t in enumerate(TEXTS)) + "\n")
    lines = open_records(str(txt), RecordSpec(), stride=4)
    assert lines.format == "lines"
    _check(lines)
    assert [row["text"] for row in lines.rows()] == TEXTS
    tsv = tmp_path / "in.tsv"
    tsv.write_text("n\ttext\n" + "".join(f"{i}\t{t}\n" for i, t in enumerate(TEXTS)))
    table = open_records(str(tsv), RecordSpec(), stride=4)
    _check(table)
    assert next(table.rows()) == {"n": "0", "text": TEXTS[0]}
    blob = tmp_path / "blob.txt"
    blob.write_bytes(b"\xff\xfeh\x00i\x00\n\x00")
    with pytest.raises(UnreadableInputError, match="UTF-16"):
        open_records(str(blob), RecordSpec())
