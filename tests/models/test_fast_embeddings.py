"""Torch-free embeddings (backends/fast_embeddings.py) on tiny sentence-transformers folders:
the same vectors as sentence-transformers for every pooling mode, on CTranslate2 and
onnxruntime; converted once into the cache; a clear fallback to sentence-transformers when a
model cannot be converted; and a CLI whose warm path and input errors import no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pretrained.errors import InvalidOptionError, UnsupportedModelError
from pretrained.models.backends import embeddings, fast_embeddings
from pretrained.models.backends.fast_embeddings import check_engine, load_fast_embedder
from pretrained.models.registry import resolve
from tests import tiny
from tests.helpers import CliResult, assert_one_line_error

HEAVY = ("torch", "transformers", "sentence_transformers", "sklearn", "scipy", "pandas")
TEXTS = [
    "I love it",
    "",
    "The quick brown fox jumps over the lazy dog.",
    "A coconut is a fruit. Coconuts grow on palm trees near the sea.",
    "HELLO WORLD! Tokenizers cut text into pieces called tokens.",
    "  machine learning models learn patterns from data  ",
    "Once upon a time there was a small model that could generate text. " * 6,  # > 24 tokens
    "über naïve café",
]


@pytest.fixture(scope="module")
def st_dirs(tiny_bert_dirs, tmp_path_factory):
    """Tiny sentence-transformers folders, by name: one per pooling mode (normalized), one
    without Normalize, one with two modes concatenated, one with a Dense module."""
    root = tmp_path_factory.mktemp("st")
    base = tiny_bert_dirs["base"]
    specs = {mode: {"pooling": (mode,)} for mode in fast_embeddings.POOLING_MODES}
    specs["mean-unnormalized"] = {"pooling": ("mean",), "normalize": False}
    specs["mean+max"] = {"pooling": ("mean", "max")}
    specs["dense"] = {"pooling": ("mean",), "dense": True}
    return {
        name: tiny.sentence_transformer_dir(root / name, base, **spec)
        for name, spec in specs.items()
    }


def _reference(folder: Path, texts: list[str]):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    return model, model.encode(texts, convert_to_numpy=True, show_progress_bar=False)


def _cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("name", [*fast_embeddings.POOLING_MODES, "mean-unnormalized", "mean+max"])
def test_ctranslate2_matches_sentence_transformers_for_every_pooling(st_dirs, name):
    folder = st_dirs[name]
    model, ref = _reference(folder, TEXTS)
    engine = load_fast_embedder(resolve(str(folder), task="embedding"), "ctranslate2")
    got = engine.encode(TEXTS, batch_size=3, normalize=False)  # small batches: padding varies
    assert got.shape == ref.shape and got.dtype == np.float32
    assert _cosines(got, ref).min() >= 0.999
    assert np.abs(got - ref).max() < 1e-4  # the same vectors, not only the same directions
    assert engine.engine == "ctranslate2" and engine.dims == ref.shape[1]
    assert engine.max_tokens == 24  # sentence_bert_config.json, not the tokenizer's limit
    # tokens are counted and located like the model's own tokenizer does
    hf = model.tokenizer
    assert engine.count_tokens(TEXTS) == [len(ids) for ids in hf(TEXTS)["input_ids"]]
    text = TEXTS[4]
    expected = hf(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    assert engine.token_offsets(text) == [tuple(span) for span in expected]


def test_onnx_engine_matches_sentence_transformers(st_dirs):
    folder = st_dirs["mean"]
    _, ref = _reference(folder, TEXTS)
    engine = load_fast_embedder(resolve(str(folder), task="embedding"), "onnx")
    got = engine.encode(TEXTS, batch_size=4)
    assert engine.engine == "onnx"
    assert _cosines(got, ref).min() >= 0.999 and np.abs(got - ref).max() < 1e-4


def test_converted_once_then_read_from_the_cache(st_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("PRETRAINED_CACHE", str(tmp_path / "cache"))
    resolved = resolve(str(st_dirs["cls"]), task="embedding")
    first = load_fast_embedder(resolved, "ctranslate2")
    assert first.cache_hit is False
    record = json.loads((first.folder / ".complete").read_text())
    assert record["pooling"] == ["cls"] and record["parity"]["min_cosine"] >= 0.9999
    assert record["revision"].startswith("sha256:")  # a local folder: keyed by its content

    def no_second_conversion(*args, **kwargs):
        raise AssertionError("converted twice")

    monkeypatch.setattr(fast_embeddings, "_build", no_second_conversion)
    again = load_fast_embedder(resolved, "ctranslate2")
    assert again.cache_hit is True and again.folder == first.folder
    # a changed model is a new entry (content hash), never the stale one
    pooling = st_dirs["cls"] / "1_Pooling" / "config.json"
    original = pooling.read_text()
    try:
        pooling.write_text(original.replace('"pooling_mode_cls_token": true', '"x": 1'))
        with pytest.raises(UnsupportedModelError, match="converted twice"):
            load_fast_embedder(resolved, "ctranslate2")
    finally:
        pooling.write_text(original)


def test_auto_falls_back_to_sentence_transformers_with_a_warning(st_dirs, capsys):
    resolved = resolve(str(st_dirs["dense"]), task="embedding")
    backend = embeddings.create_embedder(resolved, engine="auto")
    err = capsys.readouterr().err
    assert backend.engine == "sentence-transformers"
    assert "warning:" in err and "Dense module" in err and "sentence-transformers" in err
    _, ref = _reference(st_dirs["dense"], TEXTS[:3])
    assert np.allclose(backend.encode(TEXTS[:3]), ref / np.linalg.norm(ref, axis=1)[:, None])
    # naming a torch-free engine is a request, not a preference: no silent fallback
    with pytest.raises(UnsupportedModelError, match="Dense"):
        embeddings.create_embedder(resolved, engine="ctranslate2")


def test_a_failed_parity_check_is_refused_and_remembered(st_dirs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PRETRAINED_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fast_embeddings, "MIN_COSINE", 1.01)
    resolved = resolve(str(st_dirs["max"]), task="embedding")
    with pytest.raises(UnsupportedModelError, match="differs from sentence-transformers"):
        load_fast_embedder(resolved, "ctranslate2")
    assert not list((tmp_path / "cache").glob("embed-ct2-*"))  # no entry was published
    monkeypatch.setattr(fast_embeddings, "MIN_COSINE", 0.9999)
    real_build = fast_embeddings._build
    monkeypatch.setattr(fast_embeddings, "_build", lambda *a: pytest.fail("tried again"))
    with pytest.raises(UnsupportedModelError, match="differs"):
        load_fast_embedder(resolved, "ctranslate2")  # remembered: no second attempt
    monkeypatch.setattr(fast_embeddings, "ENGINES", ("ctranslate2",))
    backend = embeddings.create_embedder(resolved)
    assert backend.engine == "sentence-transformers"
    assert "warning:" in capsys.readouterr().err
    # `models cache clear` forgets the verdict: the next load converts again
    from pretrained.models.loading import clear_cache

    memo = tmp_path / "cache" / fast_embeddings.UNSUPPORTED_FILE
    assert memo.exists()
    clear_cache()
    assert not memo.exists()
    monkeypatch.setattr(fast_embeddings, "_build", real_build)
    assert load_fast_embedder(resolved, "ctranslate2").cache_hit is False


def test_engine_choice(st_dirs):
    resolved = resolve(str(st_dirs["mean"]), task="embedding")
    cpu = embeddings.auto_embedding_engines(resolved, "cpu")
    assert cpu[0] == "ctranslate2" and cpu[-1] == "sentence-transformers"
    assert embeddings.auto_embedding_engines(resolved, "cuda") == ["sentence-transformers"]
    assert embeddings.auto_embedding_engines(resolved, "mps") == ["sentence-transformers"]
    assert embeddings.auto_embedding_engines(resolved, None, trust_remote_code=True) == [
        "sentence-transformers"
    ]
    assert check_engine("CT2") == "ctranslate2" and check_engine(None) == "auto"
    assert check_engine("onnxruntime") == "onnx"
    with pytest.raises(InvalidOptionError, match="unknown embedding engine"):
        check_engine("torch")
    with pytest.raises(InvalidOptionError, match="runs on the CPU"):
        embeddings.create_embedder(resolved, engine="ctranslate2", device="cuda")
    st = embeddings.create_embedder(resolved, engine="sentence-transformers", device="cpu")
    assert st.engine == "sentence-transformers"


# ---------------------------------------------------------------- the CLI in a fresh process
_SCRIPT = """
import json, sys
from tests.helpers import run_cli
results = []
for args, stdin in json.loads(sys.argv[1]):
    r = run_cli(*args, input=stdin)
    results.append([r.exit_code, r.stdout, r.stderr])
heavy = sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)
print(json.dumps({"results": results, "heavy": heavy}))
"""


def run_fresh(commands: list[tuple[list[str], str | None]]) -> tuple[list[CliResult], list[str]]:
    """Run CLI commands one after the other in ONE new interpreter (the environment of this
    test, so the same PRETRAINED_HOME / PRETRAINED_CACHE) → results and the heavy modules that
    ended up imported."""
    import pretrained

    root = Path(__file__).resolve().parents[2]
    src = Path(pretrained.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(root)])}
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(commands), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return [CliResult(*r) for r in data["results"]], data["heavy"]


def test_warm_path_imports_no_torch(st_dirs):
    folder = str(st_dirs["mean"])
    load_fast_embedder(resolve(folder, task="embedding"), "ctranslate2")  # the first use
    from pretrained.tasks.run import list_tasks

    list_tasks()  # the pipeline table is cached on first use too
    results, heavy = run_fresh(
        [
            (["classify", "I love it", "--model", folder, "--json"], None),
            (["embed", "--text", "hello world", "--model", folder, "--json"], None),
            (["embed", "--text", "a coconut is a fruit", "--model", folder, "-i", "fresh"], None),
            (["similar", "coconut", "--index", "fresh", "--json"], None),
            (["run", "--list", "--json"], None),
        ]
    )
    for result in results:
        assert result.exit_code == 0, result.stderr
    assert heavy == []
    classified = results[0].json()
    assert classified["engine"] == "ctranslate2" and classified["method"] == "zero-shot-embedding"
    assert results[1].json()["items"][0]["tokens"] > 0
    assert results[3].json()["hits"][0]["text"] == "a coconut is a fruit"


BAD_INPUTS = [
    # (command line, stdin, exit code, words in the error line)
    (["classify", "-"], "", 1, "empty"),
    (["classify", "I love it", "--labels", "a"], None, 2, "at least two"),
    (["classify", "I love it", "--engine", "bogus"], None, 2, "unknown embedding engine"),
    (["classify", "I love it", "--batch-size", "0"], None, 2, "--batch-size"),
    (["classify", "I love it", "--device", "tpu"], None, 2, "unknown device"),
    (["classify", "I love it", "--method", "guess"], None, 2, "unknown method"),
    (["embed", "-"], "", 1, "no text"),
    (["embed", "missing-file.txt"], None, 1, "not found"),
    (["embed", "--text", "hi", "--index", "bad name!"], None, 2, "bad index name"),
    (["embed", "--text", "hi", "--batch-size", "0"], None, 2, "--batch-size"),
    (["embed", "--text", "hi", "--chunk-tokens", "3"], None, 2, "--chunk-tokens"),
    (["embed", "--text", "hi", "--engine", "bogus"], None, 2, "unknown embedding engine"),
    (["similar", "cats", "--index", "nope"], None, 1, "no index named"),
    (["similar", "cats", "--index", "bad name!"], None, 2, "bad index name"),
    (["similar", " ", "--index", "nope"], None, 1, "empty"),
    (["ask", "what is it?", "--index", "nope"], None, 1, "no index named"),
    (["summarize", "-"], "", 1, "no text"),
]


def test_bad_inputs_fail_before_any_heavy_import():
    results, heavy = run_fresh([(args, stdin) for args, stdin, _, _ in BAD_INPUTS])
    failures = []
    for (args, _, code, words), result in zip(BAD_INPUTS, results, strict=True):
        try:
            assert_one_line_error(result, code, words)
        except AssertionError as exc:
            failures.append(f"pretrained {' '.join(args)}: {exc}")
    assert not failures, "\n".join(failures)
    assert heavy == [], f"a bad input imported {heavy} before failing"
