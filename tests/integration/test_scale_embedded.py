"""Exports and batch jobs on the embedded models: ONNX exports of MiniLM and SmolLM2 pass
their parity checks and run in onnxruntime and through `pretrained`."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.integration


def test_minilm_onnx_export_parity_and_onnxruntime(cli, tmp_path):
    import onnxruntime as ort
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from pretrained.models.registry import resolve

    out = tmp_path / "minilm-onnx"
    result = cli("export", "minilm-l6", "--format", "onnx", "-o", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["passed"] and data["kind"] == "embed"
    assert data["parity"]["max_abs_diff"] < 1e-4 and data["parity"]["min_cosine"] > 0.9999
    # onnxruntime alone, against sentence-transformers on new sentences
    texts = ["A cat sits on the mat.", "Stock markets rallied on Friday after the report."]
    tok = AutoTokenizer.from_pretrained(out)
    enc = tok(texts, padding=True, return_tensors="np")
    session = ort.InferenceSession(str(out / "model.onnx"))
    feed = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")}
    got = session.run(["sentence_embedding"], feed)[0]
    ref = SentenceTransformer(str(resolve("minilm-l6").path), device="cpu").encode(texts)
    assert np.abs(got - ref).max() < 1e-4
    # and through pretrained: a batch job with --model pointing at the export
    rows = tmp_path / "texts.jsonl"
    rows.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    vectors = tmp_path / "vectors.jsonl"
    job = cli("batch", "embed", str(rows), "-o", str(vectors), "--model", str(out), "-q")
    assert job.exit_code == 0, job.stderr
    batch = np.array([json.loads(line)["embedding"] for line in vectors.read_text().splitlines()])
    assert np.abs(batch - ref).max() < 1e-4


@pytest.mark.timeout(1800)  # the export traces a 135M-parameter model: minutes on 2 busy cores
def test_smollm2_onnx_export_parity_and_generation(cli, tmp_path):
    out = tmp_path / "smollm2-onnx"
    result = cli("export", "smollm2-135m-instruct", "-o", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["passed"] and data["kind"] == "generate"
    parity = json.loads((out / "export.json").read_text())["parity"]
    assert parity["greedy_equal"] == "4/4" and parity["max_abs_diff"] < 1e-2
    assert all(pair["original"].strip() for pair in parity["greedy"])  # real continuations
    args = ["What is the capital of France?", "-t", "0", "-n", "10", "--json"]
    exported = cli("generate", *args, "--model", str(out))
    assert exported.exit_code == 0, exported.stderr
    assert exported.json()["engine"] == "onnx"
    assert "Paris" in exported.json()["text"]  # (equality with transformers: the parity check)
