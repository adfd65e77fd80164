"""The fast engines on the embedded SmolLM2 GGUF, against the transformers engine: llama.cpp
(the Q4_1 file as it is) and CTranslate2 (int8 or float32 compute, converted once), and the
engine `auto` picks on the machine the tests run on (models/calibrate.py: by measurement, with a
quality canary), whatever CPU kind that is.

What parity means here, precisely. Both engines get the same prompt token ids (the Hugging
Face tokenizer, the same chat-template rendering) and the same weights: transformers runs the
float32 values dequantized from the Q4_1 file, llama.cpp the Q4_1 blocks themselves, but with
activations rounded to 8 bits inside its matrix products. That rounding moves logits by
about 0.1, so greedy decoding may pick the other token where two were nearly tied. The test
accepts exactly that: per prompt, the greedy token ids are equal, or they are equal up to the
first difference and there transformers' logit for its own choice beats its logit for
llama.cpp's choice by less than NEAR_TIE (measured: ≤ 0.14 on these prompts); and most prompts
must come out identical.

CTranslate2 re-quantizes the dequantized weights to int8 and quantizes activations to 8 bits
too, which moves logits further: the same rule holds with CT2_NEAR_TIE (measured: ≤ 0.64 at
repetition penalty 1.0), and fewer prompts come out identical over 32 tokens. At penalty ≠ 1
CTranslate2 differs by design (its penalty ignores prompt tokens), so parity is checked at 1.0.
"""

from __future__ import annotations

import time

import pytest

import pretrained
from pretrained.models.backends.base import SamplingParams

pytestmark = pytest.mark.integration
pytest.importorskip("xllamacpp")

MODEL = "smollm2-135m-instruct"
NEAR_TIE = 0.5
CT2_NEAR_TIE = 1.0
PROMPTS = [
    "Write a short paragraph about the history of the bicycle.",
    "Explain what a tokenizer does, in two sentences.",
    "Give three tips for writing clear emails.",
    "What is the capital of France? Answer briefly.",
    "Describe the water cycle to a child.",
    "List four uses of a paperclip.",
    "Why is the sky blue?",
    "Summarize the plot of Romeo and Juliet in one sentence.",
]


@pytest.fixture(scope="module")
def fast():
    return pretrained.load(MODEL, engine="llama.cpp")


@pytest.fixture(scope="module")
def reference():
    return pretrained.load(MODEL, engine="transformers")


@pytest.fixture(scope="module")
def verdict():
    from pretrained.models import calibrate
    from pretrained.models.registry import resolve

    return calibrate.verdict(resolve(MODEL))


def test_auto_picks_the_fastest_engine_that_passed_the_canary_here(verdict):
    backend = pretrained.load(MODEL)
    chosen = verdict.chosen()
    assert chosen is not None and chosen.passed
    assert (backend.engine, backend.dtype) == (chosen.engine, chosen.variant)
    assert backend.revision.startswith("sha256:")
    assert chosen.typical_s == min(t.typical_s for t in verdict.trials if t.passed)
    for trial in verdict.trials:  # every installed candidate was measured
        assert trial.passed or trial.reason, trial
    labels = {t.label for t in verdict.trials}
    assert {"llama.cpp gguf Q4_1", "transformers float32", "ctranslate2 int8"} <= labels
    llama = pretrained.load(MODEL, engine="llama.cpp")
    assert llama.dtype == "gguf Q4_1" and llama.revision == backend.revision  # the file's hash


def test_auto_never_runs_a_degenerate_int8_path(tmp_path):
    """oneDNN held to AVX2 (as on an AVX2-only CPU): its u8s8 int8 products saturate and
    CTranslate2 int8 loops ("The Daily Daily …"). In that process the calibration must fail
    whatever path degenerates and the default output must be sane. (On CPUs where the limit
    changes nothing, int8 may pass: then it is simply sane there.)"""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, pretrained\n"
        "from pretrained.models import calibrate\n"
        "from pretrained.models.registry import resolve\n"
        f"v = calibrate.verdict(resolve({MODEL!r}))\n"
        "r = pretrained.generate('Write a short slogan for a coffee shop.', temperature=0,\n"
        "                        max_new_tokens=30)\n"
        "print(json.dumps({'verdict': v.to_dict(), 'text': r.text, 'engine': r.engine}))\n"
    )
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    from pretrained.models import calibrate

    assert not calibrate.degenerate(data["text"]), data
    chosen = data["verdict"]["chosen"]
    assert chosen.startswith(data["engine"])
    for trial in data["verdict"]["trials"]:
        if trial["degenerate"]:  # a loop the reference does not make: never chosen
            assert not trial["passed"] and not chosen.startswith(
                f"{trial['engine']} {trial['variant']}"
            )


def _transformers_greedy(reference, ids: list[int], penalty: float):
    import torch

    with torch.inference_mode():
        out = reference.model.generate(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=32,
            do_sample=False,
            repetition_penalty=penalty,
            output_scores=True,
            return_dict_in_generate=True,
        )
    return out.sequences[0, len(ids) :].tolist(), out.scores


def _equal_or_near_tie(got: list[int], want: list[int], scores, near: float = NEAR_TIE) -> bool:
    """True when identical; else check the first difference is a near-tie for transformers."""
    if got == want:
        return True
    k = next(i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b)
    margin = float(scores[k][0][want[k]] - scores[k][0][got[k]])
    assert 0 <= margin < near, (k, margin)
    return False


@pytest.mark.parametrize("penalty", [1.0, 1.1])
def test_greedy_tokens_match_transformers_up_to_near_ties(fast, reference, penalty):
    params = SamplingParams(max_new_tokens=32, temperature=0, repetition_penalty=penalty)
    texts = [reference.render_chat([{"role": "user", "content": p}]) for p in PROMPTS]
    encoded = []
    for prompt, text in zip(PROMPTS, texts, strict=True):
        assert fast.render_chat([{"role": "user", "content": prompt}]) == text
        ids = reference.tokenizer(text, add_special_tokens=False)["input_ids"]
        assert fast.tokenizer.encode(text, False) == ids
        encoded.append(ids)
    # one prompt per request, and all prompts in one batched request (other matmul shapes)
    single = [fast._request([ids], params, time.perf_counter(), ids=True)[0] for ids in encoded]
    batched = fast._request(encoded, params, time.perf_counter(), ids=True)
    again = fast._request(encoded, params, time.perf_counter(), ids=True)
    assert [r.ids for r in again] == [r.ids for r in batched]  # deterministic
    identical = 0
    for ids, one, many in zip(encoded, single, batched, strict=True):
        want, scores = _transformers_greedy(reference, ids, penalty)
        assert one.text == fast.tokenizer.decode(one.ids)  # llama.cpp's text = HF decoding
        identical += _equal_or_near_tie(one.ids, want, scores)
        _equal_or_near_tie(many.ids, want, scores)
    assert identical >= len(PROMPTS) // 3


def test_the_engine_auto_picks_matches_transformers_up_to_quantization(reference):
    """Whatever `auto` runs on this machine, on prompts the canary never saw: the same template
    and prompt ids; no greedy loop; along its own greedy replies, the tokens it picks are ones
    the float32 reference (fed the same prefix) rates within the canary's margin of its own
    choice, on average over the prompts; and some replies are identical."""
    from pretrained.models import calibrate

    backend = pretrained.load(MODEL)
    assert not set(PROMPTS) & set(calibrate.CANARY_PROMPTS)  # held out from the canary
    for prompt in PROMPTS:
        text = reference.render_chat([{"role": "user", "content": prompt}])
        assert backend.render_chat([{"role": "user", "content": prompt}]) == text
        ids = reference.tokenizer(text, add_special_tokens=False)["input_ids"]
        if backend.engine != "transformers":
            assert backend.tokenizer.encode(text, False) == ids
    pairs, _ = calibrate._greedy_ids(backend, PROMPTS, 32)
    worst = [max(m) for m in calibrate.path_margins(reference, pairs) if m]
    assert len(worst) == len(PROMPTS)
    assert sum(worst) / len(worst) <= calibrate.PATH_MARGIN, worst
    identical = 0
    for prompt, (ids, got) in zip(PROMPTS, pairs, strict=True):
        assert not calibrate.degenerate(backend.tokenizer.decode(got)), prompt
        want, _ = _transformers_greedy(reference, ids, 1.0)
        want = [t for t in want if t not in reference._eos_ids]
        identical += got == want
    assert identical >= 1, worst


def test_generate_reports_like_the_transformers_engine(fast, reference):
    kw = dict(temperature=0, max_new_tokens=40, repetition_penalty=1.0)
    a = pretrained.generate("What is the capital of France? Answer briefly.", backend=fast, **kw)
    b = pretrained.generate(
        "What is the capital of France? Answer briefly.", backend=reference, **kw
    )
    assert a.text == b.text and "Paris" in a.text
    assert a.prompt_tokens == b.prompt_tokens
    assert a.completion_tokens == b.completion_tokens  # EOS counted by both
    assert a.completions[0].finish_reason == b.completions[0].finish_reason == "stop"
    assert a.engine == "llama.cpp" and a.timings["first_token_s"] is not None


def test_stream_stop_seed_and_sequences(fast):
    full = pretrained.generate(
        "Why is the sky blue?", backend=fast, temperature=0, max_new_tokens=24
    )
    handle = pretrained.stream(
        "Why is the sky blue?", backend=fast, temperature=0, max_new_tokens=24
    )
    assert "".join(handle) == full.text
    assert handle.result.completion_tokens == full.completion_tokens == 24

    word = full.text.split()[3]
    cut = pretrained.generate(
        "Why is the sky blue?", backend=fast, temperature=0, max_new_tokens=24, stop=[word]
    )
    assert cut.text == full.text[: full.text.index(word)]
    assert cut.completions[0].finish_reason == "stop"
    streamed = pretrained.stream(
        "Why is the sky blue?", backend=fast, temperature=0, max_new_tokens=24, stop=[word]
    )
    assert "".join(streamed) == cut.text

    kw = dict(temperature=0.9, max_new_tokens=16, num_return_sequences=3)
    a = pretrained.generate("Tell me a joke", backend=fast, seed=11, **kw)
    b = pretrained.generate("Tell me a joke", backend=fast, seed=11, **kw)
    c = pretrained.generate("Tell me a joke", backend=fast, seed=12, **kw)
    assert a.texts == b.texts and len(a.texts) == 3 and len(set(a.texts)) > 1
    assert a.texts != c.texts


def test_a_cancelled_or_dropped_stream_stops_and_leaves_the_engine_usable(fast):
    import gc
    import threading

    cancel = threading.Event()
    texts, last = [], None
    prompt = fast.render_chat([{"role": "user", "content": "Why is the sky blue?"}])
    params = SamplingParams(max_new_tokens=64, temperature=0)
    for chunk in fast.stream(prompt, params, add_special_tokens=False, cancel=cancel):
        if chunk.done:
            last = chunk
            break
        texts.append(chunk.text)
        cancel.set()
    assert texts and last is not None and last.finish_reason == "stop"
    assert last.completion_tokens < 64
    dropped = iter(pretrained.stream("Hello", backend=fast, temperature=0, max_new_tokens=64))
    next(dropped)
    del dropped
    gc.collect()
    again = pretrained.generate("Hello", backend=fast, temperature=0, max_new_tokens=4)
    assert again.completion_tokens == 4


def test_chat_cli_and_generate_cli_use_the_fast_engine(cli):
    r = cli("generate", "Say hi", "--temperature", "0", "--max-new-tokens", "5", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["engine"] == pretrained.load(MODEL).engine
    r = cli("chat", "--engine", "llama.cpp", "--max-new-tokens", "5", "--json", input="Hello\n")
    assert r.exit_code == 0, r.stderr


def test_cold_start_path_does_not_import_torch(tmp_path):
    """The CLI's warm-cache fast path never imports torch or transformers (the cold-start
    budget: both cost seconds on this CPU). Timing itself is measured in benchmarks/."""
    import subprocess
    import sys

    for engine in ("auto", "llama.cpp"):
        pretrained.load(MODEL, engine=engine)  # the conversion / tokenizer cache is warm
        code = (
            "import sys; from pretrained.cli.main import main; "
            f"code = main(['generate', 'Hi', '--engine', '{engine}', '--temperature', '0', "
            "'--max-new-tokens', '2', '-q']); "
            "print('MODULES', 'torch' in sys.modules, 'transformers' in sys.modules); "
            "sys.exit(code)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().splitlines()[-1] == "MODULES False False", engine
