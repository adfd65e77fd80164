import json

import pytest

from pretrained.errors import InputNotFoundError, InvalidOptionError, UnreadableInputError
from pretrained.train import data


def test_jsonl_rows_fields_limit_and_file_hash(quotes):
    records = data.load(str(quotes), limit=5)
    assert len(records.rows) == 5 and records.total == 24
    assert records.fields == ["text", "author", "tags"]
    assert records.source.kind == "local"
    assert records.source.resolved_revision.startswith("sha256:")


def test_csv_parquet_and_txt(tmp_path):
    pytest.importorskip("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "q.csv").write_text("text,author\nHello.,A\nBye.,B\n")
    assert data.load(str(tmp_path / "q.csv")).rows[1] == {"text": "Bye.", "author": "B"}
    pq.write_table(pa.table({"text": ["x", "y", "z"]}), tmp_path / "q.parquet")
    assert len(data.load(str(tmp_path / "q.parquet")).rows) == 3
    (tmp_path / "q.txt").write_text("line one\nline two\n")
    records = data.load(str(tmp_path / "q.txt"))
    assert records.fields == ["text"] and records.rows[0]["text"] == "line one"


def test_held_out_split_is_seeded_and_disjoint(quotes):
    a = data.split(data.load(str(quotes)), 0.25, seed=1)
    b = data.split(data.load(str(quotes)), 0.25, seed=1)
    c = data.split(data.load(str(quotes)), 0.25, seed=2)
    assert len(a.val) == 6 and len(a.train) == 18
    assert a.val == b.val and a.train == b.train
    assert [r["text"] for r in a.val] != [r["text"] for r in c.val]
    assert len(data.split(data.load(str(quotes)), 5, seed=1).val) == 5
    assert data.split(data.load(str(quotes)), 0, seed=1).val == []


@pytest.mark.parametrize("bad", [-1, 1.5, 24, 100])
def test_bad_val_size(quotes, bad):
    with pytest.raises(InvalidOptionError):
        data.split(data.load(str(quotes)), bad, seed=1)


def test_missing_unsupported_empty_and_broken_files(tmp_path):
    with pytest.raises(InputNotFoundError):
        data.load(str(tmp_path / "nope.jsonl"))
    (tmp_path / "q.xlsx").write_text("x")
    with pytest.raises(UnreadableInputError) as info:
        data.load(str(tmp_path / "q.xlsx"))
    assert ".jsonl" in info.value.hint
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(UnreadableInputError):
        data.load(str(tmp_path / "empty.jsonl"))
    (tmp_path / "broken.jsonl").write_text('{"text": "ok"}\n{not json\n')
    with pytest.raises(UnreadableInputError):
        data.load(str(tmp_path / "broken.jsonl"))


def test_local_files_have_no_revision_or_other_splits(quotes):
    with pytest.raises(InvalidOptionError):
        data.load(str(quotes), revision="main")
    with pytest.raises(InvalidOptionError) as info:
        data.load(str(quotes), split="test")
    assert "--split" in info.value.message


def test_hub_dataset_records_the_commit_and_works_offline_afterwards(fake_hub, monkeypatch):
    rows = [{"quote": f"Quote number {i}.", "author": "A"} for i in range(6)]
    repo = fake_hub.add_dataset(
        "someone/quotes", {"quotes.jsonl": "".join(json.dumps(r) + "\n" for r in rows).encode()}
    )
    records = data.load("someone/quotes")
    assert records.source.kind == "hub"
    assert records.source.resolved_revision == repo.sha
    assert records.fields == ["quote", "author"] and len(records.rows) == 6
    pinned = data.load("someone/quotes", revision=repo.sha, limit=2)
    assert pinned.source.revision == repo.sha and len(pinned.rows) == 2

    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert data.load("someone/quotes").source.resolved_revision == repo.sha


def test_unknown_hub_dataset_and_revision(fake_hub):
    fake_hub.add_dataset("someone/quotes", {"q.jsonl": b'{"text": "x"}\n'})
    with pytest.raises(InputNotFoundError) as info:
        data.load("someone/missing")
    assert "dataset" in info.value.message and "datasets/someone/missing" in info.value.hint
    with pytest.raises(InputNotFoundError):
        data.load("someone/quotes", revision="v9")


def test_offline_and_not_cached_names_the_dataset():
    with pytest.raises(InputNotFoundError) as info:
        data.load("someone/never-downloaded")
    assert "someone/never-downloaded" in info.value.message
    assert "local cache" in info.value.message
