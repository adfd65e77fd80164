"""Generation speed, cold start and memory of `pretrained` against its baselines, same run.

tok/s at batch 1 and 8, four contenders on the same embedded model, each in its own worker
process (two OpenMP runtimes in one process would disturb each other), measured in turns
(ours, plain transformers, raw llama.cpp, raw CTranslate2, ours, …) so all see the same
machine state:
- ours:   `pretrained.generate` with the default (auto) engine — CTranslate2 int8 on a CPU;
- plain:  transformers `model.generate` on the same weights (dequantized to float32);
- raw:    llama.cpp called directly (xllamacpp's server API, one request, the same prompt
          token ids and sampler settings) on the GGUF file itself;
- rawct2: CTranslate2's `generate_batch` called directly on the same converted folder with
          the same token ids and options — the difference to `ours` is our overhead
          (tokenizing, templates, stop handling, results).
Ours and the raw engines stop at EOS (same work, same tokens); plain transformers is forced to
64 new tokens (min_new_tokens), which only favours it.
Cold start: wall time of `pretrained generate … --max-new-tokens 1` (a new process, warm
conversion cache, imports included) against the same one-token generation written as a
plain transformers script. Peak RSS of each command against the same baseline script.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

MODEL = "smollm2-135m-instruct"
PROMPTS = [
    "Write a short paragraph about the history of the bicycle.",
    "Explain what a tokenizer does, in two sentences.",
    "Give three tips for writing clear emails.",
    "Describe the water cycle to a child.",
    "List four uses of a paperclip.",
    "Why is the sky blue?",
    "Summarize the plot of Romeo and Juliet in one sentence.",
    "Write a haiku about the sea.",
]
NEW_TOKENS = 64
ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- workers (one engine each)
def _raw_llamacpp(resolved):
    """Raw llama.cpp called directly: one request, the same prompt token ids as ours."""
    import importlib

    # our module first: it sets the same OpenMP wait policy the engine runs with
    from pretrained.models.backends.cpu_threads import cpu_threads
    from pretrained.models.backends.fast_tokenizer import FastTokenizer
    from pretrained.models.backends.llamacpp import MAX_CONTEXT, PARALLEL
    from pretrained.models.loading import gguf_path, gguf_tokenizer_dir

    xllamacpp = importlib.import_module("xllamacpp")
    path = gguf_path(resolved)
    tok = FastTokenizer(gguf_tokenizer_dir(path).path)
    ids = {p: tok.encode(tok.render_chat([{"role": "user", "content": p}]), False) for p in PROMPTS}
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.n_ctx = MAX_CONTEXT
    params.n_parallel = PARALLEL
    params.kv_unified = True
    params.cpuparams.n_threads = cpu_threads()
    params.cpuparams_batch.n_threads = cpu_threads()
    params.warmup = False
    params.cache_ram_mib = 0
    params.verbosity = -1
    server = xllamacpp.Server(params)

    def run(prompts):
        body = {  # the sampler settings ours uses for greedy decoding
            "prompt": [ids[p] for p in prompts],
            "max_tokens": NEW_TOKENS,
            "temperature": 0,
            "top_k": 1,
            "min_p": 0.0,
            "samplers": ["penalties", "temperature", "top_k", "top_p"],
            "cache_prompt": False,
        }
        choices = server.handle_completions(body)["choices"]
        # usage covers one sequence only: count each choice's tokens (+ EOS when it stopped)
        return sum(
            len(tok.encode(c["text"], False)) + (c["finish_reason"] == "stop") for c in choices
        )

    info = {"engine": "xllamacpp"}
    return run, info


def _worker(kind: str) -> None:
    """Load one contender, then answer 'b1' / 'b8' lines with {"tokens", "seconds"}."""
    import pretrained
    from pretrained.models.loading import prepare
    from pretrained.models.registry import resolve

    resolved = resolve(MODEL)
    if kind == "ours":
        backend = pretrained.load(MODEL)

        def run(prompts):
            results = pretrained.generate_many(
                prompts,
                backend=backend,
                temperature=0,
                max_new_tokens=NEW_TOKENS,
                repetition_penalty=1.0,
                batch_size=8,
            )
            return sum(r.completion_tokens for r in results)

        info = {"engine": backend.engine}
    elif kind == "plain":
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = prepare(resolved).path
        tok = AutoTokenizer.from_pretrained(folder)
        tok.padding_side = "left"
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        texts = {
            p: tok.apply_chat_template(
                [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
            )
            for p in PROMPTS
        }

        def run(prompts):
            enc = tok([texts[p] for p in prompts], return_tensors="pt", padding=True)
            with torch.inference_mode():
                model.generate(
                    **enc,
                    max_new_tokens=NEW_TOKENS,
                    min_new_tokens=NEW_TOKENS,
                    do_sample=False,
                    pad_token_id=tok.pad_token_id,
                )
            return NEW_TOKENS * len(prompts)

        info = {"engine": "transformers", "threads": torch.get_num_threads()}
    elif kind == "rawct2":  # CTranslate2 called directly, on the folder ours runs
        backend = pretrained.load(MODEL, engine="ctranslate2")
        generator, tok = backend.generator, backend.tokenizer
        starts = {
            p: tok.tokens(tok.encode(tok.render_chat([{"role": "user", "content": p}]), False))
            for p in PROMPTS
        }

        def run(prompts):
            results = generator.generate_batch(
                [starts[p] for p in prompts],
                max_length=NEW_TOKENS,
                sampling_topk=1,
                include_prompt_in_result=False,
                end_token=tok.eos_ids,
            )
            # EOS is left out of the ids: count it like ours does
            return sum(
                len(r.sequences_ids[0]) + (len(r.sequences_ids[0]) < NEW_TOKENS) for r in results
            )

        info = {"engine": "ctranslate2 (raw)"}
    else:
        run, info = _raw_llamacpp(resolved)
    print(json.dumps({"ready": True, **info}), flush=True)
    for line in sys.stdin:
        prompts = PROMPTS[:1] if line.strip() == "b1" else PROMPTS
        start = time.perf_counter()
        tokens = run(prompts)
        print(json.dumps({"tokens": tokens, "seconds": time.perf_counter() - start}), flush=True)


class Worker:
    def __init__(self, kind: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.info = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("a benchmark worker died (run it alone to see why)")
        return json.loads(line)

    def ask(self, what: str) -> float:
        """tokens per second of one timed call"""
        self.proc.stdin.write(what + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        return reply["tokens"] / reply["seconds"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


# ---------------------------------------------------------------- cold start and RSS
PLAIN_SCRIPT = """
import sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
folder, n = sys.argv[1], int(sys.argv[2])
tok = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
text = tok.apply_chat_template([{"role": "user", "content": "Say hi"}], tokenize=False,
                               add_generation_prompt=True)
out = model.generate(**tok(text, return_tensors="pt"), max_new_tokens=n, do_sample=False)
print(tok.decode(out[0, -n:], skip_special_tokens=True))
print(f"PEAK_RSS_MIB {peak_rss_mib():.1f}", file=sys.stderr)
"""


# Whole-process generation of LONG_TOKENS greedy tokens: the plain transformers script (forced to
# that many), CTranslate2 and llama.cpp called directly from a bare script (forced too), and
# `pretrained generate` (which stops at EOS: its own token count is used). tok/s = tokens / wall.
LONG_PROMPT = "Write a long story about a lighthouse keeper and a storm."
LONG_TOKENS = 128
PLAIN_LONG = """
import sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
folder, n = sys.argv[1], int(sys.argv[2])
tok = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
text = tok.apply_chat_template([{"role": "user", "content": sys.argv[3]}], tokenize=False,
                               add_generation_prompt=True)
out = model.generate(**tok(text, return_tensors="pt"), max_new_tokens=n, min_new_tokens=n,
                     do_sample=False, repetition_penalty=1.1)
print(tok.decode(out[0, -n:], skip_special_tokens=True))
"""
RAW_CT2_LONG = """
import os, sys, ctranslate2, tokenizers
folder, n, text, compute = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
tok = tokenizers.Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
gen = ctranslate2.Generator(folder, compute_type=compute, intra_threads=len(os.sched_getaffinity(0)))
ids = tok.encode(text, add_special_tokens=False).ids
r = gen.generate_batch([[tok.id_to_token(i) for i in ids]], max_length=n, min_length=n,
                       sampling_topk=1, include_prompt_in_result=False, repetition_penalty=1.1)
print(tok.decode(r[0].sequences_ids[0]))
"""
RAW_LLAMA_LONG = """
import os, sys, tokenizers, xllamacpp
gguf, tokfile, n, text = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
tok = tokenizers.Tokenizer.from_file(tokfile)
params = xllamacpp.CommonParams()
params.model.path = gguf
params.n_ctx = 1024
params.cpuparams.n_threads = params.cpuparams_batch.n_threads = len(os.sched_getaffinity(0))
params.warmup = False
params.verbosity = -1
server = xllamacpp.Server(params)
ids = tok.encode(text, add_special_tokens=False).ids
out = server.handle_completions({"prompt": ids, "max_tokens": n, "ignore_eos": True,
                                 "temperature": 0, "top_k": 1, "repeat_penalty": 1.1})
print(out["choices"][0]["text"])
"""


def long_generation_rows(repeat: int, folder: str) -> list[dict]:
    """Whole process, LONG_TOKENS greedy tokens: ours vs plain transformers vs the raw engines."""
    import json as _json
    from statistics import median

    import pretrained
    from pretrained.models.backends.fast_tokenizer import FastTokenizer
    from pretrained.models.loading import gguf_path, gguf_tokenizer_dir
    from pretrained.models.registry import resolve

    ct2 = pretrained.load(MODEL, engine="ctranslate2")  # the compute type calibrated here
    ct2_folder, compute = str(ct2.folder), ct2.dtype
    path = gguf_path(resolve(MODEL))
    tokenizer_dir = gguf_tokenizer_dir(path).path
    tokfile = str(tokenizer_dir / "tokenizer.json")
    # the bare scripts get the chat text ours renders (the model's template, its default
    # system prompt included), so every contender reads the same prompt tokens
    chat = FastTokenizer(tokenizer_dir).render_chat([{"role": "user", "content": LONG_PROMPT}])
    pretrained.models.unload_all()

    def contenders(n: int) -> dict[str, list[str]]:
        return {
            "plain": [sys.executable, "-c", PLAIN_LONG, folder, str(n), LONG_PROMPT],
            "raw ct2": [sys.executable, "-c", RAW_CT2_LONG, ct2_folder, str(n), chat, compute],
            "raw llama.cpp": [sys.executable, "-c", RAW_LLAMA_LONG, str(path), tokfile, str(n),
                              chat],
        }  # fmt: skip

    ours_cmd = _cli("generate", LONG_PROMPT, "-t", "0", "--max-new-tokens", str(LONG_TOKENS),
                    "--json", "--no-stream")  # fmt: skip
    speeds: dict[str, list[float]] = {}
    engine, counts = "?", []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        proc = subprocess.run(ours_cmd, capture_output=True, text=True, cwd=ROOT, check=True)
        wall = time.perf_counter() - start
        data = _json.loads(proc.stdout)
        engine, n = data["engine"], data["usage"]["completion_tokens"]
        counts.append(n)
        speeds.setdefault("ours", []).append(n / wall)
        # the baselines make exactly as many tokens as ours did (ours may stop at EOS)
        for name, cmd in contenders(n).items():
            speeds.setdefault(name, []).append(n / _timed(cmd))
    ours = median(speeds["ours"])
    best = max(speeds["ours"])
    rows = []
    for name, label in (
        ("plain", "plain transformers script (fp32, as many tokens)"),
        ("raw ct2", f"bare CTranslate2 script ({compute}, the calibrated compute type)"),
        ("raw llama.cpp", "bare llama.cpp script (xllamacpp, the GGUF file)"),
    ):
        rows.append(
            {
                "name": f"whole process, {LONG_TOKENS} greedy tokens (auto engine: {engine}) vs {name}",
                "ours": ours,
                "baseline": median(speeds[name]),
                "baseline_name": label,
                "unit": "tok/s",
                # the machine is shared: load only ever slows a run down, so each side's best
                # run is the closest to what it can do (the medians are in ours/baseline)
                "ratio": best / max(speeds[name]),
                "note": f"tokens / wall time of a new process, imports and load included; "
                f"median of {len(speeds['ours'])}; ratio = best ours {best:.1f} / best "
                f"baseline {max(speeds[name]):.1f}; tokens per run {counts}",
            }
        )
    return rows


def _timed(cmd: list[str]) -> float:
    """Wall seconds of one command in a new process."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, cwd=ROOT, text=True)  # fmt: skip
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: {proc.stderr[-500:]}")
    return seconds


def _cli(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "pretrained"  # the console script users run
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "pretrained", *args]


def run(args) -> list[dict]:
    from statistics import median

    from benchmarks.run import PEAK_RSS_SOURCE, cli_peak_rss, peak_rss_of
    from pretrained.models.loading import prepare
    from pretrained.models.registry import resolve

    folder = str(prepare(resolve(MODEL)).path)  # dequantized weights for the baselines
    import pretrained

    pretrained.load(MODEL)  # the auto engine's conversion (once)
    pretrained.load(MODEL, engine="llama.cpp")  # and the raw llama.cpp worker's tokenizer
    pretrained.models.unload_all()

    workers = {kind: Worker(kind) for kind in ("ours", "plain", "raw", "rawct2")}
    try:
        speeds: dict[tuple[str, str], list[float]] = {}
        for what in ("b1", "b8"):
            if what == "b1":
                for w in workers.values():
                    w.ask(what)  # warm-up (batch 8 runs on warm engines)
            # batch 1 calls take a second or two and this shared machine's load changes on that
            # scale: more rounds; batch 8 calls take 4-10× longer and move less
            rounds = max(args.repeat, 7) if what == "b1" else max(1, min(args.repeat, 2))
            for _ in range(rounds):
                for kind, w in workers.items():
                    speeds.setdefault((kind, what), []).append(w.ask(what))
        engine = workers["ours"].info["engine"]
    finally:
        for w in workers.values():
            w.close()

    rows = []
    for what, label in (("b1", "batch 1"), ("b8", "batch 8")):
        ours = median(speeds[("ours", what)])
        for kind, baseline_name, name in (
            (
                "plain",
                "transformers model.generate (fp32, same weights)",
                f"(auto engine: {engine})",
            ),
            ("raw", "raw llama.cpp (xllamacpp, one request, the GGUF file)", "vs raw llama.cpp"),
            ("rawct2", "raw CTranslate2 generate_batch (same folder)", "overhead vs raw engine"),
        ):
            pairs = zip(speeds[("ours", what)], speeds[(kind, what)], strict=True)
            paired = [a / b for a, b in pairs]
            rows.append(
                {
                    "name": f"tok/s {label}, {name}",
                    "ours": ours,
                    "baseline": median(speeds[(kind, what)]),
                    "baseline_name": baseline_name,
                    "unit": "tok/s",
                    # each round's two calls are seconds apart: their ratio drifts less with
                    # the machine's load than the ratio of the two medians
                    "ratio": median(paired),
                    "note": f"ratio = median of {len(paired)} per-round ratios "
                    f"{[round(r, 2) for r in paired]}",
                }
            )

    # cold start: invocation → first token (1 new token), warm caches, imports included
    gen = ("generate", "Say hi", "--temperature", "0", "-q", "--no-stream")
    plain = [sys.executable, "-c", PEAK_RSS_SOURCE + PLAIN_SCRIPT, folder]
    ours_cold, plain_cold, ours_rss, plain_rss, chat_rss = [], [], [], [], []
    _timed(_cli(*gen, "--max-new-tokens", "1"))  # page cache warm for both
    _timed([*plain, "1"])
    for _ in range(args.repeat):
        ours_cold.append(_timed(_cli(*gen, "--max-new-tokens", "1")))
        plain_cold.append(_timed([*plain, "1"]))
    # peak RSS moves by a few MiB between runs: once each
    ours_rss.append(cli_peak_rss(*gen, "--max-new-tokens", "32"))
    plain_rss.append(peak_rss_of([*plain, "32"]))
    chat_rss.append(
        cli_peak_rss("chat", "--max-new-tokens", "32", "--temperature", "0", stdin="Say hi\n")
    )
    rows.extend(long_generation_rows(args.repeat, folder))
    rows.append(
        {
            "name": "cold start to first token (new process, warm cache)",
            "ours": median(ours_cold),
            "baseline": median(plain_cold),
            "baseline_name": "plain transformers script",
            "unit": "s",
            "higher_is_better": False,
        }
    )
    for name, values in (("generate", ours_rss), ("chat", chat_rss)):
        rows.append(
            {
                "name": f"peak RSS: pretrained {name} (32 tokens)",
                "ours": median(values),
                "baseline": median(plain_rss),
                "baseline_name": "plain transformers script",
                "unit": "MiB",
                "higher_is_better": False,
            }
        )
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        sys.path.insert(0, str(ROOT))
        _worker(sys.argv[2])
    else:
        sys.exit("run through benchmarks/run.py (make bench)")
