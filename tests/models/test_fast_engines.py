"""The fast engines behind the same protocol: engine choice, tokenizer/chat-template parity
without transformers, CTranslate2 parity on tiny models, the conversion cache (keys, races,
list/clear). The llama.cpp engine needs a GGUF file: tests/integration/test_fast_embedded.py."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pretrained
from pretrained.errors import InvalidOptionError, UnsupportedModelError
from pretrained.models import backends, loading
from pretrained.models.backends.base import SamplingParams
from pretrained.models.backends.fast_tokenizer import FastTokenizer, IncrementalDecoder
from pretrained.models.registry import resolve
from tests.helpers import assert_one_line_error

ct2 = pytest.importorskip("ctranslate2")

PROMPTS = ["Hello", "A coconut is a fruit that grows", "Quote by Oscar", "1 2 3 4"]
CONVERSATIONS = [
    [{"role": "user", "content": "Hi there"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why?"}],
    [
        {"role": "user", "content": "One"},
        {"role": "assistant", "content": "Two"},
        {"role": "user", "content": "Three <b>&</b>"},
    ],
]


@pytest.fixture(params=["tiny_gpt2_dir", "tiny_llama_dir"])
def tiny_dir(request) -> Path:
    return request.getfixturevalue(request.param)


# ---------------------------------------------------------------- engine choice
def test_auto_prefers_ctranslate2_then_llamacpp_for_gguf(tiny_gpt2_dir, tmp_path, monkeypatch):
    from pretrained.models.backends import ctranslate2

    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert backends.auto_engines(resolve(str(gguf)), "cpu") == [
        "ctranslate2",
        "llama.cpp",
        "transformers",
    ]
    assert backends.auto_engines(resolve(str(tiny_gpt2_dir)), None) == [
        "ctranslate2",
        "transformers",
    ]
    monkeypatch.setattr(ctranslate2, "available", lambda: False)
    assert backends.auto_engines(resolve(str(gguf)), "cpu") == ["llama.cpp", "transformers"]


@pytest.mark.parametrize(
    "options",
    [
        {"device": "cuda"},
        {"device": "mps"},
        {"quantize": "4bit"},
        {"dtype": "bfloat16"},
        {"trust_remote_code": True},
    ],
)
def test_auto_keeps_transformers_where_only_it_fits(tiny_gpt2_dir, options):
    device = options.pop("device", "cpu")
    assert backends.auto_engines(resolve(str(tiny_gpt2_dir)), device, **options) == ["transformers"]


def test_auto_uses_transformers_on_an_nvidia_machine(tiny_gpt2_dir, monkeypatch):
    monkeypatch.setattr(backends, "nvidia_gpu_present", lambda: True)
    assert backends.auto_engines(resolve(str(tiny_gpt2_dir)), "auto") == ["transformers"]
    assert backends.auto_engines(resolve(str(tiny_gpt2_dir)), "cpu")[0] == "ctranslate2"


def test_auto_falls_back_when_the_fast_engine_cannot_convert(tiny_gpt2_dir, monkeypatch):
    from pretrained.models.backends import ctranslate2 as engine

    def refuse(resolved, **options):
        raise UnsupportedModelError("no conversion for this architecture")

    monkeypatch.setattr(engine, "load_text_backend", refuse)
    pretrained.models.unload_all()
    assert pretrained.load(str(tiny_gpt2_dir)).engine == "transformers"
    with pytest.raises(UnsupportedModelError):
        pretrained.load(str(tiny_gpt2_dir), engine="ctranslate2")


def test_engine_names_and_aliases(tiny_gpt2_dir):
    resolved = resolve(str(tiny_gpt2_dir))
    assert backends.text_engine_candidates(resolved, "CT2", "cpu") == ["ctranslate2"]
    assert backends.text_engine_candidates(resolved, "llamacpp", None) == ["llama.cpp"]
    with pytest.raises(InvalidOptionError):
        backends.text_engine_candidates(resolved, "vllm", None)
    with pytest.raises(InvalidOptionError):
        backends.text_engine_candidates(resolved, "ctranslate2", "cuda")
    with pytest.raises(InvalidOptionError):
        backends.text_engine_candidates(resolved, "llama.cpp", "cpu", quantize="8bit")


def test_cli_engine_errors_are_one_line(cli, tiny_gpt2_dir):
    assert_one_line_error(
        cli("generate", "hi", "--model", tiny_gpt2_dir, "--engine", "vllm"), 2, "unknown engine"
    )
    assert_one_line_error(
        cli("generate", "hi", "--model", tiny_gpt2_dir, "--engine", "llama.cpp"),
        1,
        "runs GGUF files",
    )
    assert_one_line_error(
        cli("generate", "hi", "--model", tiny_gpt2_dir, "--engine", "ct2", "--device", "cuda"),
        2,
        "runs on the CPU",
    )


def test_engine_errors_on_the_other_commands(cli, tiny_gpt2_dir, tmp_path):
    from tests.textkit import bart_dir

    bart = bart_dir(tmp_path / "bart")
    assert_one_line_error(
        cli(
            "summarize",
            "--text",
            "One. Two.",
            "--mode",
            "abstractive",
            "-m",
            bart,
            "--engine",
            "ct2",
        ),
        1,
        "encoder-decoder",
    )
    assert_one_line_error(
        cli("run", "fill-mask", "Paris is the [MASK].", "--engine", "ctranslate2"),
        2,
        "runs text generation",
    )
    assert_one_line_error(
        cli("run", "text-generation", "Hi", "-m", tiny_gpt2_dir, "-p", "num_beams=2"),
        2,
        "num_beams",
    )


@pytest.fixture(scope="module")
def long_llama_dir(tiny_llama_dir, tmp_path_factory) -> Path:
    """The tiny Llama with a 1k context (rotary positions: only the config changes), so the
    summarizer has room for its prompt and summary."""
    import shutil

    folder = shutil.copytree(tiny_llama_dir, tmp_path_factory.mktemp("llama") / "long-llama")
    config = json.loads((folder / "config.json").read_text())
    config["max_position_embeddings"] = 1024
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("engine", ["transformers", "ctranslate2"])
def test_every_generating_command_runs_on_the_engine_asked_for(cli, long_llama_dir, engine):
    """generate, chat, abstractive summarize, ask and run text-generation all pass --engine
    down: each reports the engine and gives what the API gives on that engine."""
    model = ["--model", str(long_llama_dir), "--engine", engine]
    greedy = ["-t", "0", "--max-new-tokens", "6"]

    def reference(prompt: str, chat: bool = False) -> str:
        backend = pretrained.load(str(long_llama_dir), engine=engine)
        if chat:
            messages = [{"role": "user", "content": prompt}]
            return pretrained.chat(messages, backend=backend, temperature=0, max_new_tokens=6).text
        return pretrained.generate(
            prompt, backend=backend, temperature=0, max_new_tokens=6, raw=True
        ).text

    gen = cli("generate", "A coconut", *model, *greedy, "--raw", "--json")
    assert gen.exit_code == 0, gen.stderr
    assert gen.json()["engine"] == engine and gen.json()["text"] == reference("A coconut")

    chat = cli("chat", *model, *greedy, "--json", input="Hi there\n")
    assert chat.exit_code == 0, chat.stderr
    assert chat.json()["engine"] == engine and chat.json()["text"] == reference("Hi there", True)

    summary = cli(
        "summarize", "--text", "A coconut is a fruit. It grows on palms.", "--mode",
        "abstractive", "--words", "5", *model, "--json",
    )  # fmt: skip
    assert summary.exit_code == 0, summary.stderr
    assert summary.json()["engine"] == engine

    ask = cli("ask", "Why?", *model, "--max-new-tokens", "6", "--json")
    assert ask.exit_code == 0, ask.stderr
    assert ask.json()["engine"] == engine

    run = cli("run", "text-generation", "A coconut", *model, "-p", "max_new_tokens=6", "-p",
              "do_sample=false", "--json")  # fmt: skip
    assert run.exit_code == 0, run.stderr
    assert run.json()["output"] == [{"generated_text": "A coconut" + reference("A coconut")}]
    assert f"engine {engine}" in cli("run", "text-generation", "Hi", *model, "-p",
                                     "max_new_tokens=2").stderr  # fmt: skip


@pytest.mark.parametrize("engine", ["transformers", "ctranslate2"])
def test_the_server_runs_on_the_engine_asked_for(tiny_llama_dir, engine):
    from fastapi.testclient import TestClient

    from pretrained.serve import ServeConfig, create_app

    config = ServeConfig(
        tasks=("generate", "chat"),
        models={"text": str(tiny_llama_dir)},
        load_options={"engine": engine},
        ui=False,
    )
    app = create_app(config)
    body = {"model": str(tiny_llama_dir), "prompt": "A coconut", "max_tokens": 6, "temperature": 0}
    with TestClient(app) as client:
        reply = client.post("/v1/completions", json=body)
        assert reply.status_code == 200, reply.text
        streamed = client.post("/v1/completions", json={**body, "stream": True})
        assert streamed.status_code == 200
    served = app.state.server.pool.served["generate"].backend
    assert served.engine == engine
    want = pretrained.generate(
        "A coconut", backend=served, temperature=0, max_new_tokens=6, raw=True
    )
    assert reply.json()["choices"][0]["text"] == want.text
    pieces = [
        json.loads(line[6:])["choices"][0]["text"]
        for line in streamed.text.splitlines()
        if line.startswith("data: {")
    ]
    assert "".join(pieces) == want.text


# ---------------------------------------------------------------- tokens and chat templates
def test_fast_tokenizer_matches_transformers(tiny_dir):
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(tiny_dir)
    fast = FastTokenizer(tiny_dir)
    for text in [*PROMPTS, "", "  spaces  and\nnewlines", "émoji 🙂 ünïcode"]:
        for special in (True, False):
            ids = hf(text, add_special_tokens=special)["input_ids"]
            assert fast.encode(text, special) == ids
        assert fast.decode(ids) == hf.decode(ids, skip_special_tokens=True)
    assert fast.has_chat_template == bool(hf.chat_template)


def test_chat_templates_render_exactly_as_transformers(tiny_dir):
    """The same string from the model's own template, or from the fallback for base models."""
    engine = pretrained.load(str(tiny_dir), engine="ctranslate2")
    reference = pretrained.load(str(tiny_dir), engine="transformers")
    for messages in CONVERSATIONS:
        assert engine.render_chat(messages) == reference.render_chat(messages)
    assert engine.has_chat_template == reference.has_chat_template
    for text in PROMPTS:
        assert engine.count_tokens(text) == reference.count_tokens(text)


def test_incremental_decoder_never_shows_half_a_character(tiny_llama_dir):
    fast = FastTokenizer(tiny_llama_dir)
    ids = fast.encode("héllo wörld 🙂 ok", add_special_tokens=False)
    decoder = IncrementalDecoder(fast)
    pieces = [decoder.push(i) for i in ids]
    assert "".join(pieces) == fast.decode(ids)
    assert not any("\ufffd" in p for p in pieces)


def test_fast_tokenizer_needs_tokenizer_json(tmp_path):
    with pytest.raises(UnsupportedModelError, match="tokenizer.json"):
        FastTokenizer(tmp_path)


# ---------------------------------------------------------------- CTranslate2 parity
def _float32_backend(tiny_dir):
    from pretrained.models.backends.ctranslate2 import CTranslate2TextBackend, convert

    prepared = convert(resolve(str(tiny_dir)), quantization="float32")
    return CTranslate2TextBackend(
        prepared.path, model_id="tiny", revision=prepared.revision, quantization="float32"
    )


def test_ctranslate2_float32_greedy_equals_transformers(tiny_dir):
    """Unquantized, CTranslate2 reproduces transformers' greedy tokens exactly (int8 drifts)."""
    engine = _float32_backend(tiny_dir)
    reference = pretrained.load(str(tiny_dir), engine="transformers")
    params = SamplingParams(max_new_tokens=12, temperature=0, repetition_penalty=1.0)
    assert engine.context_length == reference.context_length  # what summarize chunks by
    got = engine.generate(PROMPTS, params)
    want = reference.generate(PROMPTS, params)
    for g, w in zip(got, want, strict=True):
        assert g.prompt_tokens == w.prompt_tokens
        assert [c.to_dict() for c in g.completions] == [c.to_dict() for c in w.completions]


# ---------------------------------------------------------------- the contract, every engine
@pytest.fixture(params=["transformers", "ctranslate2"])
def engine_backend(request, tiny_gpt2_dir):
    return pretrained.load(str(tiny_gpt2_dir), engine=request.param)


def test_stream_equals_generate(engine_backend):
    full = pretrained.generate(
        "A coconut", backend=engine_backend, temperature=0, max_new_tokens=12
    )
    handle = pretrained.stream(
        "A coconut", backend=engine_backend, temperature=0, max_new_tokens=12
    )
    assert "".join(handle) == full.text
    assert handle.result.completion_tokens == full.completion_tokens
    assert handle.result.completions[0].finish_reason == full.completions[0].finish_reason
    assert handle.result.engine == engine_backend.engine


def test_stop_sequences_cut_generate_and_stream(engine_backend):
    prompt = "A coconut is"
    full = pretrained.generate(prompt, backend=engine_backend, temperature=0, max_new_tokens=16)
    # a stop made of visible characters from the middle of the output (transformers' own
    # stop-string matcher misfires on runs of newlines with byte-level tokenizers)
    stop = next(
        full.text[i : i + 2]
        for i in range(2, len(full.text) - 1)
        if not any(c.isspace() for c in full.text[i : i + 2])
    )
    cut = pretrained.generate(
        prompt, backend=engine_backend, temperature=0, max_new_tokens=16, stop=[stop]
    )
    assert cut.text == full.text[: full.text.index(stop)]
    assert cut.completions[0].finish_reason == "stop"
    streamed = pretrained.stream(
        prompt, backend=engine_backend, temperature=0, max_new_tokens=16, stop=[stop]
    )
    assert "".join(streamed) == cut.text
    assert streamed.result.completions[0].finish_reason == "stop"


def test_cancel_and_abandon_a_stream(engine_backend):
    """A cancelled stream ends with finish_reason 'stop'; one dropped mid-way (its generator
    garbage-collected while decoding) leaves the engine usable."""
    import gc
    import threading

    kw = dict(temperature=0, max_new_tokens=40)
    cancel = threading.Event()
    chunks = engine_backend.stream("A coconut", SamplingParams(**kw), cancel=cancel)
    texts = []
    for chunk in chunks:
        if chunk.done:
            last = chunk
            break
        texts.append(chunk.text)
        cancel.set()
    assert texts and last.finish_reason == "stop"
    assert last.completion_tokens < 40

    dropped = iter(pretrained.stream("Hello", backend=engine_backend, **kw))
    next(dropped)
    del dropped
    gc.collect()
    again = pretrained.generate("A coconut", backend=engine_backend, max_new_tokens=5)
    assert again.completion_tokens > 0


def test_seeds_reproduce_and_vary(engine_backend):
    kw = dict(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=10)
    a = pretrained.generate("Hello", backend=engine_backend, seed=7, **kw)
    b = pretrained.generate("Hello", backend=engine_backend, seed=7, **kw)
    c = pretrained.generate("Hello", backend=engine_backend, seed=8, **kw)
    assert a.text == b.text
    assert a.text != c.text
    s = pretrained.stream("Hello", backend=engine_backend, seed=7, **kw)
    assert "".join(s) == "".join(pretrained.stream("Hello", backend=engine_backend, seed=7, **kw))


def test_num_return_sequences(engine_backend):
    kw = dict(temperature=1.0, top_k=0, max_new_tokens=8, num_return_sequences=3, seed=3)
    r = pretrained.generate_many(["Hello", "Bye"], backend=engine_backend, **kw)
    assert [len(x.completions) for x in r] == [3, 3]
    assert len(set(r[0].texts)) > 1
    again = pretrained.generate_many(["Hello", "Bye"], backend=engine_backend, **kw)
    assert [x.texts for x in again] == [x.texts for x in r]


def test_chat_applies_the_template(engine_backend):
    reply = pretrained.chat(
        [{"role": "user", "content": "Hi"}], backend=engine_backend, temperature=0, max_new_tokens=5
    )
    assert reply.chat_template and reply.engine == engine_backend.engine
    assert reply.prompt_tokens == engine_backend.count_tokens(
        engine_backend.render_chat([{"role": "user", "content": "Hi"}]), False
    )


def test_fast_path_does_not_import_torch(tiny_llama_dir, tmp_path, monkeypatch):
    """With a warm conversion cache, the CTranslate2 path never imports torch/transformers."""
    monkeypatch.setenv("PRETRAINED_CACHE", str(tmp_path / "cache"))
    pretrained.models.unload_all()
    pretrained.load(str(tiny_llama_dir), engine="ctranslate2")  # converts into this cache
    code = textwrap.dedent(
        f"""
        import sys, pretrained
        r = pretrained.generate("Hi", {str(tiny_llama_dir)!r}, temperature=0, max_new_tokens=3,
                                engine="ctranslate2")
        print(r.engine, "torch" in sys.modules, "transformers" in sys.modules)
        """
    )
    # several runs: a CTranslate2 generator left for interpreter shutdown used to abort the
    # process at exit about half the time (models are now freed by an atexit hook)
    for _ in range(4):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, out.stderr[-500:]
        assert out.stdout.split()[-3:] == ["ctranslate2", "False", "False"], out.stdout


# ---------------------------------------------------------------- the conversion cache
def test_conversion_is_cached_and_keyed_by_model_revision_and_quantization(
    tiny_llama_dir, tmp_path, monkeypatch
):
    from pretrained.models.backends.ctranslate2 import convert

    monkeypatch.setenv("PRETRAINED_CACHE", str(tmp_path / "c"))

    resolved = resolve(str(tiny_llama_dir))
    first = convert(resolved, quantization="int8")
    again = convert(resolved, quantization="int8")
    other = convert(resolved, quantization="float32")
    assert first.converted and again.cache_hit and not again.converted
    assert first.path == again.path != other.path
    assert first.path.name.endswith("-int8") and "tiny-llama" in first.path.name
    meta = json.loads((first.path / ".complete").read_text())
    assert meta["quantization"] == "int8" and meta["revision"].startswith("sha256:")
    assert meta["model"] == resolved.id


def test_two_processes_racing_share_one_complete_entry(tiny_gpt2_dir, tmp_path):
    """Both processes convert at once: one builds (the other waits on the lock), both get the
    same complete folder, and no temp folder is left behind."""
    cache = tmp_path / "race-cache"
    code = textwrap.dedent(
        f"""
        import json, sys
        from pretrained.models.backends.ctranslate2 import convert
        from pretrained.models.registry import resolve
        sys.stdin.readline()  # start together
        p = convert(resolve({str(tiny_gpt2_dir)!r}))
        print(json.dumps({{"path": str(p.path), "converted": p.converted}}))
        """
    )
    env = {**__import__("os").environ, "PRETRAINED_CACHE": str(cache)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert results[0]["path"] == results[1]["path"]
    assert sorted(r["converted"] for r in results) == [False, True]
    entry = Path(results[0]["path"])
    assert (entry / ".complete").exists() and (entry / "model.bin").exists()
    assert not list(cache.glob(".tmp-*"))


def test_a_failed_build_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PRETRAINED_CACHE", str(tmp_path))

    def broken(folder: Path) -> None:
        (folder / "half.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        loading.cached_build("ct2-x", broken, {"kind": "test"}, None)
    assert not (tmp_path / "ct2-x").exists() and not list(tmp_path.glob(".tmp-*"))
    assert loading.cached_build("ct2-x", lambda f: None, {"kind": "test"}, None).converted


def test_models_cache_list_and_clear(cli, tiny_llama_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("PRETRAINED_CACHE", str(tmp_path / "c"))
    assert "empty" in cli("models", "cache", "list").stdout
    pretrained.models.unload_all()
    pretrained.load(str(tiny_llama_dir), engine="ctranslate2")
    listed = cli("models", "cache", "list", "--json").json()
    assert [e["kind"] for e in listed] == ["ctranslate2"]
    assert listed[0]["quantization"] == "int8" and listed[0]["size_bytes"] > 0
    assert "ctranslate2" in cli("models", "cache", "list").stdout
    assert_one_line_error(cli("models", "cache", "clear", "nope"), 2, "no cache entry")
    cleared = cli("models", "cache", "clear", listed[0]["name"], "--json").json()
    assert cleared["freed_bytes"] == listed[0]["size_bytes"]
    assert cli("models", "cache", "list", "--json").json() == []
    assert "removed 0" in cli("models", "cache", "clear").stdout


# ---------------------------------------------------------------- llama.cpp pieces without a model
def test_gguf_header_reader_skips_arrays(tmp_path):
    """The cold-start header reader agrees with gguf's own writer on scalars, past arrays."""
    from gguf import GGUFWriter

    from pretrained.models.backends.llamacpp import gguf_context_length, gguf_scalars

    path = tmp_path / "tiny.gguf"
    writer = GGUFWriter(str(path), "llama")
    writer.add_array("tokenizer.ggml.tokens", ["a", "bb", "ccc"] * 100)
    writer.add_array("tokenizer.ggml.scores", [0.5] * 300)
    writer.add_context_length(1234)
    writer.add_uint32("llama.block_count", 2)
    writer.add_string("general.name", "tiny")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    meta = gguf_scalars(path)
    assert meta["general.architecture"] == "llama" and meta["general.name"] == "tiny"
    assert meta["llama.block_count"] == 2 and gguf_context_length(path) == 1234
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOPE" + b"\0" * 20)
    from pretrained.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="not a GGUF"):
        gguf_scalars(bad)


def test_llamacpp_batches_fit_the_shared_context():
    from pretrained.models.backends.llamacpp import LlamaCppTextBackend

    backend = LlamaCppTextBackend.__new__(LlamaCppTextBackend)
    backend.parallel, backend.context_length = 3, 100
    sizes = [len(c) for c in backend._chunks([[1] * 10] * 7, 20)]
    assert sizes == [3, 3, 1]  # 3 × 30 tokens fit; the slot count caps each request
    sizes = [len(c) for c in backend._chunks([[1] * 60, [1] * 10, [1] * 10], 20)]
    assert sizes == [1, 2]  # 80 + 30 would overflow the 100-token cache


def test_generate_stops_when_its_cancel_scope_is_set(engine_backend):
    """The non-streaming path (batched prompts, n > 1) watches the cancel scope a server sets
    around a request's work: it stops within a step or two and raises WorkCancelledError."""
    import threading

    from pretrained.errors import WorkCancelledError
    from pretrained.models.backends.base import cancel_scope

    class SetAfter(threading.Event):
        def __init__(self, checks: int) -> None:
            super().__init__()
            self.checks, self.left = 0, checks

        def is_set(self) -> bool:
            self.checks += 1
            self.left -= 1
            return self.left < 0

    params = SamplingParams(temperature=0, max_new_tokens=60, num_return_sequences=2)
    event = SetAfter(checks=6)
    with cancel_scope(event), pytest.raises(WorkCancelledError):
        engine_backend.generate(["Hello", "A coconut"], params)
    assert event.checks < 4 * 60  # stopped long before 2 prompts × 2 sequences × 60 tokens
    already = threading.Event()
    already.set()
    with cancel_scope(already), pytest.raises(WorkCancelledError):
        engine_backend.generate(["Hello"], params)
    # no scope: untouched (and greedy n > 1 works on every engine: n equal sequences)
    assert len(engine_backend.generate(["Hello"], params)[0].completions) == 2


# ---------------------------------------------------------------- llama.cpp start-up sizing
@pytest.fixture
def gguf_backend():
    """llama.cpp on the embedded SmolLM2 GGUF (98 MB: loads in well under a second)."""
    pytest.importorskip("xllamacpp")
    from pretrained.models.backends import llamacpp

    def make(one_shot: bool):
        llamacpp.one_shot(one_shot)
        return llamacpp.load_text_backend(resolve("smollm2-135m-instruct"))

    yield make
    llamacpp.one_shot(False)


GREEDY = SamplingParams(max_new_tokens=8, temperature=0)


def test_a_one_shot_call_sizes_llama_cpp_to_its_request(gguf_backend):
    from pretrained.models.backends import llamacpp

    backend = gguf_backend(True)
    assert backend.server is None  # nothing started before the request is known
    out = backend.generate(["Say hi"], GREEDY)[0]
    assert out.completions[0].text.strip() and out.completions[0].completion_tokens == 8
    assert backend.size == (llamacpp.MIN_CONTEXT, 1)
    # a larger request (more sequences, more tokens) than the sized context still works: the
    # server starts again at its size, and the reply is the same as a full-size server's
    long = " ".join(["The quick brown fox jumps over the lazy dog."] * 60)
    params = SamplingParams(max_new_tokens=16, temperature=0)
    grown = backend.generate([long, "Say hi", long], params)
    context, slots = backend.size
    assert slots == 3 and llamacpp.MIN_CONTEXT < context <= backend.context_length
    assert context % llamacpp.CONTEXT_STEP == 0
    assert [o.completions[0].completion_tokens for o in grown] == [16, 16, 16]
    full = gguf_backend(False)
    assert [o.completions[0].text for o in full.generate([long, "Say hi", long], params)] == [
        o.completions[0].text for o in grown
    ]


def test_a_request_beyond_the_context_errors_in_one_line(gguf_backend):
    from pretrained.errors import PretrainedError

    backend = gguf_backend(True)
    huge = " ".join(["The quick brown fox jumps over the lazy dog."] * 500)  # ≈ 5,500 tokens
    assert backend.count_tokens(huge) > backend.context_length
    with pytest.raises(PretrainedError) as info:
        backend.generate([huge], GREEDY)
    assert "\n" not in info.value.message and info.value.hint
    assert backend.generate(["Say hi"], GREEDY)[0].completions[0].text.strip()  # still usable


def test_servers_and_the_api_keep_llama_cpp_parallel_slots(gguf_backend):
    """Not one-shot (serve, chat, the Python API): the full context and PARALLEL slots from
    the start, whatever the requests; a backend made one-shot grows to that once it is over."""
    from pretrained.models.backends import llamacpp

    backend = gguf_backend(False)
    full = (backend.context_length, llamacpp.PARALLEL)
    assert backend.server is not None and backend.size == full
    backend.generate(["Say hi"], GREEDY)
    assert backend.size == full
    leftover = gguf_backend(True)
    leftover.generate(["Say hi"], GREEDY)
    llamacpp.one_shot(False)
    leftover.generate(["Say hi"], GREEDY)
    assert leftover.size == full


def test_the_cli_is_one_shot_only_for_one_shot_commands(cli, monkeypatch):
    pytest.importorskip("xllamacpp")
    from pretrained.cli import main as cli_main
    from pretrained.models import calibrate
    from pretrained.models.backends import llamacpp

    seen = []
    real = llamacpp.LlamaCppTextBackend._fit

    def spy(self, prompts, params):
        seen.append(llamacpp._ONE_SHOT)
        return real(self, prompts, params)

    monkeypatch.setattr(llamacpp.LlamaCppTextBackend, "_fit", spy)
    monkeypatch.setattr(calibrate, "verdict", lambda *a, **k: None)  # not what is tested
    r = cli("generate", "Say hi", "--engine", "llama.cpp", "-t", "0", "--max-new-tokens", "4")
    assert r.exit_code == 0, r.stderr
    assert seen and all(seen) and not llamacpp._ONE_SHOT  # reset for the next command
    assert "generate" in cli_main.ONE_SHOT and "serve" not in cli_main.ONE_SHOT
    assert "chat" not in cli_main.ONE_SHOT


def test_the_calibration_runs_llama_cpp_full_size_in_a_one_shot_call(gguf_backend):
    """`pretrained generate` calibrates on first use: the canary's many requests of many sizes
    get the full-size server, not one restarted for each."""
    from pretrained.models.backends import llamacpp
    from pretrained.models.calibrate import measuring
    from pretrained.models.calibrate.results import Trial

    llamacpp.one_shot(True)
    trial = Trial("llama.cpp", "gguf Q4_1")
    backend = measuring._load_trial(resolve("smollm2-135m-instruct"), trial)
    assert backend.size == (backend.context_length, llamacpp.PARALLEL)
    backend.generate(["Say hi"], GREEDY)
    assert backend.size == (backend.context_length, llamacpp.PARALLEL)
