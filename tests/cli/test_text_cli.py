"""The text commands end to end (summarize, classify, embed, similar, ask, eval summarize) with
a bag-of-words embedder standing in for MiniLM, and every bad source as a one-line error."""

import csv
import json
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error
from tests.textkit import HashingEmbedder, TextServer, TextSite, WikiPage

STORY = (
    "The river flooded the old town in spring. Boats carried people from their homes. "
    "Engineers later built a taller wall along the river. The town has stayed dry since then. "
    "Tourists now visit the wall to see the flood marks."
)


@pytest.fixture(autouse=True)
def bag_of_words(monkeypatch):
    engine = HashingEmbedder()
    monkeypatch.setattr("pretrained.models.load_embedder", lambda *a, **k: engine)
    return engine


@pytest.fixture
def site(monkeypatch):
    with TextServer(TextSite()) as server:
        monkeypatch.setenv("PRETRAINED_WIKI_API", server.url + "/{lang}/w/api.php")
        yield server


# ---------------------------------------------------------------- bad sources: exit 1, one line
def test_bad_sources_exit_1_with_one_line_errors(cli, tmp_path, site):
    site.site.wiki["Mercury"] = WikiPage(
        "Mercury may be:", True, ["Mercury (planet)", "Mercury (element)"]
    )
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 16)
    (tmp_path / "empty.txt").write_text("  \n")
    cases = [
        (str(tmp_path / "missing.txt"), "file not found"),
        (str(tmp_path / "blob.bin"), "binary"),
        (str(tmp_path / "empty.txt"), "no text"),
        (site.url + "/gone", "404"),
        ("wiki:No Such Page Here", "no Wikipedia page"),
        ("wiki:Mercury", "disambiguation"),
    ]
    for source, message in cases:
        result = cli("summarize", source)
        assert_one_line_error(result, 1, message)
    hint = cli("summarize", "wiki:Mercury").stderr
    assert 'wiki:"Mercury (planet)"' in hint


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sentences", "0"], "--sentences"),
        (["--words", "50", "--ratio", "0.2"], "only one of"),
        (["--mode", "magic"], "unknown mode"),
        (["--format", "pdf"], "unknown format"),
    ],
)
def test_bad_options_exit_2(cli, args, message):
    assert_one_line_error(cli("summarize", "--text", STORY, *args), 2, message)


# ---------------------------------------------------------------- summarize
def test_summarize_text_md_and_json(cli, tmp_path):
    path = tmp_path / "story.md"
    path.write_text("# Flood story\n\n" + STORY)
    plain = cli("summarize", str(path), "--sentences", "2")
    assert plain.exit_code == 0, plain.stderr
    assert plain.stdout.count(".") == 2 and "extractive summary" in plain.stderr
    md = cli("summarize", str(path), "--sentences", "2", "--format", "md")
    assert md.stdout.startswith("# Flood story") and "*Source:" in md.stdout and "\n- " in md.stdout
    data = cli("summarize", str(path), "--words", "20", "--json").json()
    assert data["mode"] == "extractive" and data["model"] == "hashing-bow"
    assert data["output_words"] <= 20 and data["title"] == "Flood story"
    assert {"summary", "chunks", "timings", "sentences"} <= set(data)


def test_summarize_stdin_and_verbose(cli):
    result = cli("summarize", "-", "--sentences", "1", "--verbose", input=STORY)
    assert result.exit_code == 0 and "verbose:" in result.stderr and result.stdout.strip()


def test_summarize_url(cli, site):
    site.site.add("/story.txt", STORY, "text/plain")
    result = cli("summarize", site.url + "/story.txt", "--sentences", "1", "--json")
    assert result.exit_code == 0 and result.json()["source"] == site.url + "/story.txt"


# ---------------------------------------------------------------- classify
def test_classify_one_text_prints_label_and_method(cli):
    result = cli(
        "classify",
        "goal match team",
        "--labels",
        "sports=football goal match team,politics=vote law",
    )
    assert result.exit_code == 0
    assert result.stdout.startswith("sports\t")
    assert "labels by hashing-bow" in result.stderr and "zero-shot" in result.stderr
    data = cli(
        "classify", "vote on the law", "--labels", "sports=goal match,politics=vote law", "--json"
    ).json()
    assert data["label"] == "politics" and data["method"] == "zero-shot-embedding"


def test_classify_files_csv_jsonl_txt(cli, tmp_path):
    reviews = tmp_path / "reviews.csv"
    with reviews.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "review"])
        writer.writerows([[1, "great love wonderful"], [2, "terrible hate awful"], [3, "love it"]])
    out = tmp_path / "labels.csv"
    result = cli("classify", "--file", str(reviews), "--column", "review", "--output", str(out))
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(out.open()))
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    assert {"label", "score", "score_positive", "score_negative"} <= set(rows[0])
    assert "3 row(s) classified by zero-shot-embedding" in result.stderr

    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps({"body": t, "n": i}) for i, t in enumerate(["a b c", "d e f"]))
    )
    result = cli("classify", "--file", str(jsonl), "--field", "body")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["n"] for r in lines] == [0, 1] and all("label" in r and "scores" in r for r in lines)

    txt = tmp_path / "lines.txt"
    txt.write_text("first line\n\nsecond line\n")
    lines = cli("classify", "--file", str(txt), "--format", "csv").stdout.splitlines()
    assert lines[0].startswith("text,label,score") and len(lines) == 3


def test_classify_errors(cli, tmp_path):
    assert_one_line_error(cli("classify", "x", "--labels", "only"), 2, "at least two")
    assert_one_line_error(cli("classify", "   "), 1, "empty")
    reviews = tmp_path / "r.csv"
    reviews.write_text("id,body\n1,hello\n")
    assert_one_line_error(cli("classify", "--file", str(reviews)), 2, "no column 'text'")
    assert_one_line_error(cli("classify", "--file", str(tmp_path / "nope.csv")), 1, "not found")


def test_classify_file_is_a_resumable_batch_job(cli, tmp_path, monkeypatch, bag_of_words):
    """--file runs through run_batch: chunks commit, a failed run resumes, the manifest and
    --json show the batch job."""
    monkeypatch.setattr("pretrained.cli.classify.BLOCK", 2)  # 2 rows per chunk
    texts = ["love it", "great stuff", "boom one", "boom two", "awful thing"]
    txt = tmp_path / "notes.txt"
    txt.write_text("\n".join(texts) + "\n")
    out = tmp_path / "labels.jsonl"
    real = bag_of_words.encode

    def failing(batch, **kw):
        if any("boom" in t for t in batch):
            raise RuntimeError("the model fell over")
        return real(batch, **kw)

    monkeypatch.setattr(bag_of_words, "encode", failing)
    first = cli("classify", "--file", str(txt), "--output", str(out), "--json")
    assert first.exit_code == 1 and "the model fell over" in first.stderr
    assert not out.exists()
    monkeypatch.setattr(bag_of_words, "encode", real)
    second = cli("classify", "--file", str(txt), "--output", str(out), "--json")
    assert second.exit_code == 0, second.stderr
    job = second.json()
    assert job["task"] == "classify" and job["status"] == "complete"
    assert (job["rows"], job["resumed"], job["processed"], job["chunks"]) == (5, 2, 3, 3)
    assert job["method"] == "zero-shot-embedding" and job["output"] == str(out)
    manifest = json.loads(Path(job["manifest"]).read_text())
    assert manifest["status"] == "complete" and manifest["fingerprint"]["chunk_size"] == 2
    assert "resuming: 2 of 5 rows already done" in second.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == texts and all("error" not in r for r in rows)
    # other labels: the old job does not apply, the run starts over instead of refusing
    third = cli("classify", "--file", str(txt), "-o", str(out), "-l", "a,b", "--json").json()
    assert (third["resumed"], third["processed"], third["labels"]) == (0, 5, ["a", "b"])


def test_classify_file_tsv_and_rows_that_fail_alone(cli, tmp_path):
    tsv = tmp_path / "r.tsv"
    tsv.write_text("n\ttext\n1\tlove it\n2\t\n3\tawful\n")
    result = cli("classify", "--file", str(tsv), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert [r["n"] for r in rows] == ["1", "2", "3"]
    assert rows[1]["error"] == "empty text" and rows[1]["label"] == "" and not rows[0]["error"]
    assert {"score_positive", "score_negative"} <= set(rows[0])
    assert "1 row(s) could not be classified" in result.stderr


def test_classify_file_rewrites_the_rows_of_a_job_that_had_finished(cli, tmp_path, monkeypatch):
    # the rows were not written back (a broken pipe, a full disk): the rerun reuses the job
    monkeypatch.setattr("pretrained.jobs.annotate.remove_results", lambda result: None)
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("text\nlove it\nawful\n")
    out = tmp_path / "labels.csv"
    first = cli("classify", "--file", str(reviews), "-o", str(out), "--json").json()
    written = out.read_text()
    out.unlink()
    second = cli("classify", "--file", str(reviews), "-o", str(out), "--json").json()
    assert (first["status"], second["status"]) == ("complete", "already-complete")
    assert second["processed"] == 0 and second["method"] == "zero-shot-embedding"
    assert out.read_text() == written and "score_positive" in written


def test_classify_file_bad_inputs(cli, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    assert_one_line_error(cli("classify", "--file", str(empty)), 1, "no rows to classify")
    header = tmp_path / "header.csv"
    header.write_text("text\n")
    assert_one_line_error(cli("classify", "--file", str(header)), 1, "no rows to classify")
    assert_one_line_error(cli("classify", "--file", str(tmp_path)), 2, "folder")
    assert_one_line_error(cli("classify", "--file", str(empty), "--format", "xml"), 2, "format")
    binary = tmp_path / "blob.txt"
    binary.write_bytes(bytes(range(256)) * 4)
    assert_one_line_error(cli("classify", "--file", str(binary)), 1, "binary")
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text('{"body": "x"}\n')
    assert_one_line_error(cli("classify", "--file", str(jsonl)), 2, "no column 'text'")


# ---------------------------------------------------------------- embed / similar / ask
def test_embed_index_similar_and_skip(cli, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(STORY)
    b.write_text("Bees make honey from the nectar of flowers. A hive holds thousands of bees.")
    first = cli("embed", str(a), str(b), "--index", "docs")
    assert first.exit_code == 0 and "2 added" in first.stdout
    second = cli("embed", str(a), str(b), "--index", "docs", "--json").json()
    assert len(second["skipped"]) == 2 and second["chunks_embedded"] == 0
    hits = cli("similar", "honey bees hive", "--index", "docs", "-k", "1", "--json").json()["hits"]
    assert len(hits) == 1 and hits[0]["source"].endswith("b.txt")
    text = cli("similar", "honey bees hive", "--index", "docs", "-k", "2")
    assert text.stdout.startswith("1. ") and "b.txt:1" in text.stdout
    assert_one_line_error(cli("similar", "x", "--index", "nothing"), 1, "no index named")
    vectors = cli("embed", "--text", "hello there world", "--json").json()
    assert vectors["dims"] == 512 and len(vectors["items"][0]["vector"]) == 512


def test_ask_with_openai_backend_and_context_file(cli, tmp_path, monkeypatch):
    site = TextSite()
    site.openai_reply = lambda m: "The town built a taller wall [1]."
    notes = tmp_path / "story.txt"
    notes.write_text(STORY)
    with TextServer(site) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
        result = cli(
            "ask", "What did the engineers build along the river?", "--context", str(notes),
            "--backend", "openai", "--api-model", "local-model", "--base-url", server.url + "/v1",
            "--min-score", "0.1",
        )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert (
        "[1]" in result.stdout
        and "Sources:" in result.stdout
        and "story.txt, line 1" in result.stdout
    )
    assert "sk-local" not in result.stdout + result.stderr
    assert_one_line_error(cli("ask", "q", "--backend", "openai"), 2, "--api-model")


def test_ask_not_found(cli, tmp_path):
    notes = tmp_path / "story.txt"
    notes.write_text(STORY)
    result = cli("ask", "Which enzyme digests lactose?", "--context", str(notes), "--json")
    data = result.json()
    assert data["found"] is False and "not found in the context" in data["answer"]


# ---------------------------------------------------------------- eval
def test_eval_summarize_prints_rouge_next_to_lead3(cli, tmp_path):
    rows = [
        {"article": STORY, "highlights": "The river flooded the town .\nA wall was built ."},
        {"article": "Bees make honey. Bees live in hives. Hives hold many bees. Honey is sweet.",
         "highlights": "Bees make honey in hives ."},
    ]  # fmt: skip
    data = tmp_path / "eval.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    result = cli("eval", "summarize", str(data))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "ROUGE-1" in lines[0] and "ROUGE-2" in lines[0] and "ROUGE-L" in lines[0]
    assert lines[1].startswith("extractive")
    assert lines[2].startswith("LEAD-3 of the cleaned") and lines[3].startswith("LEAD-3 of the raw")
    js = cli("eval", "summarize", str(data), "--json").json()
    assert js["articles"] == 2 and set(js["scores"]) == {"ROUGE-1", "ROUGE-2", "ROUGE-L"}
    assert 0 < js["baseline_scores"]["ROUGE-1"] <= 100
    assert 0 < js["baseline_raw_scores"]["ROUGE-1"] <= 100
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "x", "summary": "y"}))
    assert_one_line_error(cli("eval", "summarize", str(bad)), 2, "no text field 'article'")


def test_eval_summarize_lead3_reads_the_cleaned_article(cli, tmp_path):
    stamped = (
        "By . Jane Roe . PUBLISHED: . 10:01 EST, 2 May 2014 . | . UPDATED: . 11:02 EST, "
        "2 May 2014 . The river flooded the town on Monday. A wall was built after the flood. "
        "Shops stayed closed for a week. Residents want a bigger wall."
    )
    data = tmp_path / "eval.jsonl"
    reference = "The river flooded the town .\nA wall was built ."
    data.write_text(json.dumps({"article": stamped, "highlights": reference}))
    js = cli("eval", "summarize", str(data), "--json").json()
    cleaned, raw = js["baseline_scores"]["ROUGE-1"], js["baseline_raw_scores"]["ROUGE-1"]
    assert cleaned > raw  # the stamps took LEAD-3's place in the raw article
    assert js["per_article"][0]["lead3"]["ROUGE-1"] == cleaned
