"""Measure one candidate CPU engine on the embedded SmolLM2-135M (the table in docs/performance.md).

Not part of `make bench` (the candidates need their own virtualenvs, and llama-cpp-python
compiles llama.cpp for many minutes): run it once per engine, in the environment that has it,
and it prints one JSON line. Every engine gets the same chat prompt(s), greedy decoding and a
fixed number of new tokens (EOS ignored where the engine allows it), on all CPU cores.

    python benchmarks/engines.py transformers --model-dir DIR     # dequantized safetensors
    python benchmarks/engines.py ctranslate2 --model-dir CT2_DIR   # ct2 int8 folder
    python benchmarks/engines.py xllamacpp --gguf FILE
    python benchmarks/engines.py llama-cpp-python --gguf FILE
    python benchmarks/engines.py openvino-genai --model-dir OV_DIR
    python benchmarks/engines.py onnxruntime-genai --model-dir ORT_DIR

DIR is the conversion-cache folder `pretrained` makes (`pretrained models cache list`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time

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
NEW_TOKENS = 64
THREADS = len(os.sched_getaffinity(0))


def chat_text(user: str) -> str:
    # SmolLM2's own chat template, rendered (the same string every engine gets)
    return f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


class Engine:
    def load(self, args) -> None: ...
    def batch(self, prompts: list[str]) -> list[str]: ...


class Transformers(Engine):
    def load(self, args):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(THREADS)
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(args.model_dir)
        self.tok.padding_side = "left"
        self.model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32)

    def batch(self, prompts):
        enc = self.tok(
            [chat_text(p) for p in prompts],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        )
        with self.torch.inference_mode():
            out = self.model.generate(
                **enc, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False
            )
        width = enc["input_ids"].shape[1]
        return self.tok.batch_decode(out[:, width:], skip_special_tokens=True)


class CTranslate2(Engine):
    def load(self, args):
        import ctranslate2
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(os.path.join(args.model_dir, "tokenizer.json"))
        self.gen = ctranslate2.Generator(
            args.model_dir, device="cpu", compute_type="int8", intra_threads=THREADS
        )

    def batch(self, prompts):
        tokens = [self.tok.encode(chat_text(p), add_special_tokens=False).tokens for p in prompts]
        res = self.gen.generate_batch(
            tokens,
            max_length=NEW_TOKENS,
            min_length=NEW_TOKENS,
            sampling_topk=1,
            include_prompt_in_result=False,
        )
        return [self.tok.decode(r.sequences_ids[0]) for r in res]


class XLlamaCpp(Engine):
    def load(self, args):
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = args.gguf
        params.n_ctx = 4096
        params.n_parallel = 8
        params.kv_unified = True
        params.cpuparams.n_threads = THREADS
        params.cpuparams_batch.n_threads = THREADS
        params.warmup = False
        params.cache_ram_mib = 0
        params.verbosity = -1
        self.server = xllamacpp.Server(params)

    def one(self, prompt, out, i):
        r = self.server.handle_completions(
            {
                "prompt": chat_text(prompt),
                "max_tokens": NEW_TOKENS,
                "temperature": 0,
                "ignore_eos": True,
                "cache_prompt": False,
            }
        )
        out[i] = r["choices"][0]["text"]

    def batch(self, prompts):
        out = [None] * len(prompts)
        threads = [
            threading.Thread(target=self.one, args=(p, out, i)) for i, p in enumerate(prompts)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out


class LlamaCppPython(Engine):
    def load(self, args):
        from llama_cpp import Llama

        self.llm = Llama(args.gguf, n_ctx=2048, n_threads=THREADS, verbose=False)

    def batch(self, prompts):
        # llama-cpp-python's high-level API decodes one sequence at a time
        outs = []
        for p in prompts:
            self.llm.reset()
            r = self.llm.create_completion(
                chat_text(p), max_tokens=NEW_TOKENS, temperature=0, logit_bias=None
            )
            outs.append(r["choices"][0]["text"])
        return outs


class OpenVINOGenAI(Engine):
    def load(self, args):
        import openvino_genai

        self.pipe = openvino_genai.LLMPipeline(args.model_dir, "CPU", INFERENCE_NUM_THREADS=THREADS)
        self.config = openvino_genai.GenerationConfig()
        self.config.max_new_tokens = NEW_TOKENS
        self.config.min_new_tokens = NEW_TOKENS
        self.config.do_sample = False

    def batch(self, prompts):
        res = self.pipe.generate([chat_text(p) for p in prompts], self.config)
        return list(res.texts)


class OnnxRuntimeGenAI(Engine):
    def load(self, args):
        import onnxruntime_genai as og

        self.og = og
        self.model = og.Model(args.model_dir)
        self.tok = og.Tokenizer(self.model)

    def batch(self, prompts):
        og = self.og
        outs = []
        for p in prompts:  # one generator per sequence: the simple, documented loop
            params = og.GeneratorParams(self.model)
            params.set_search_options(
                max_length=len(self.tok.encode(chat_text(p))) + NEW_TOKENS,
                min_length=len(self.tok.encode(chat_text(p))) + NEW_TOKENS,
                do_sample=False,
            )
            gen = og.Generator(self.model, params)
            gen.append_tokens(self.tok.encode(chat_text(p)))
            ids = []
            while not gen.is_done():
                gen.generate_next_token()
                ids.append(gen.get_next_tokens()[0])
            outs.append(self.tok.decode(ids))
        return outs


ENGINES = {
    "transformers": Transformers,
    "ctranslate2": CTranslate2,
    "xllamacpp": XLlamaCpp,
    "llama-cpp-python": LlamaCppPython,
    "openvino-genai": OpenVINOGenAI,
    "onnxruntime-genai": OnnxRuntimeGenAI,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engine", choices=sorted(ENGINES))
    parser.add_argument("--model-dir")
    parser.add_argument("--gguf")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    began = time.perf_counter()
    engine = ENGINES[args.engine]()
    engine.load(args)
    load_s = time.perf_counter() - began
    first = engine.batch(PROMPTS[:1])  # warm-up, and the text for the parity column
    times1, times8 = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        engine.batch(PROMPTS[:1])
        times1.append(time.perf_counter() - t)
        t = time.perf_counter()
        engine.batch(PROMPTS)
        times8.append(time.perf_counter() - t)
    print(
        json.dumps(
            {
                "engine": args.engine,
                "threads": THREADS,
                "load_s_with_imports": round(load_s, 2),
                "tok_s_batch1": round(NEW_TOKENS / statistics.median(times1), 1),
                "tok_s_batch8": round(8 * NEW_TOKENS / statistics.median(times8), 1),
                "greedy_text": first[0],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
