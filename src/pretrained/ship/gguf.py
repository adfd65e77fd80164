"""GGUF export: a Hugging Face causal LM folder (a LoRA run already merged) → one .gguf file
for llama.cpp, Ollama, LM Studio …, with the tokenizer, chat template and EOS carried over.

Built on maintained code:
- the `gguf` package (llama.cpp's gguf-py): GGUFWriter, the tensor-name map, SpecialVocab
  (merges, special token ids, add-BOS/EOS flags, chat template) and the f16 / Q8_0 quantizers;
- Q4_K_M: llama.cpp's own quantizer, `ggml_quantize_chunk` of the ggml library compiled into
  the xllamacpp wheel (called through ctypes), with the tensor-type recipe of llama.cpp's
  src/llama-quant.cpp (`llama_tensor_get_type`) ported for the two architectures below.

The conversion itself is a port of llama.cpp's convert_hf_to_gguf.py (ggml-org/llama.cpp,
conversion of `LlamaForCausalLM` and `GPT2LMHeadModel`, vocabulary via `get_vocab_base`,
pre-tokenizer via `get_vocab_base_pre`), kept to what this project fine-tunes: Llama-style
models (SmolLM2, TinyLlama with a BPE tokenizer, Llama 3 without rope scaling) and GPT-2.
Anything else is refused with a hint to use llama.cpp's converter.
"""

from __future__ import annotations

import json
import logging
from hashlib import sha256
from pathlib import Path
from typing import Any

from ..errors import InvalidOptionError, UnsupportedModelError

QUANTS = ("f16", "q8_0", "q4_k_m")
ARCHS = {"LlamaForCausalLM": "llama", "GPT2LMHeadModel": "gpt2"}

# convert_hf_to_gguf.py get_vocab_base_pre: the pre-tokenizer is identified by the ids of
# this text. Only the families the project supports are listed; their hashes as published.
CHKTXT = (
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis "
    "concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 "
    "កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български "
    "''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not "
    "sure I'll make it, 'D you like some tea? We'Ve a'lL"
)
PRE_TOKENIZERS = {
    "855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249": "smollm",
    "3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454": "gpt-2",
    "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5": "llama-bpe",
}


def check_quantize(quantize: str | None) -> str:
    value = (quantize or "f16").lower()
    if value not in QUANTS:
        raise InvalidOptionError(
            f"unknown quantization '{quantize}' for a GGUF export",
            hint="use --quantize q8_0, q4_k_m or f16 (the default)",
        )
    return value


# ---------------------------------------------------------------- vocabulary
def _pre_tokenizer(folder: Path, tokenizer) -> str:
    """The llama.cpp pre-tokenizer name: by the published hash, else (a freshly trained
    vocabulary has a hash of its own) by the structure of tokenizer.json's pre_tokenizer."""
    digest = sha256(str(tokenizer.encode(CHKTXT)).encode()).hexdigest()
    if digest in PRE_TOKENIZERS:
        return PRE_TOKENIZERS[digest]
    pre = json.loads((folder / "tokenizer.json").read_text()).get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [(s.get("type"), s.get("individual_digits")) for s in steps]
    byte_level = steps[-1].get("type") == "ByteLevel" and steps[-1].get("use_regex", True)
    if byte_level and len(steps) == 1:
        return "gpt-2"  # the GPT-2 regex inside ByteLevel
    if byte_level and kinds[:-1] == [("Digits", True)]:
        return "smollm"  # digits split one by one, then the GPT-2 regex
    raise UnsupportedModelError(
        "the tokenizer's pre-tokenizer is not one llama.cpp's converter recognizes here",
        hint="convert with llama.cpp's convert_hf_to_gguf.py, or export --format onnx/ct2",
    )


def _vocabulary(folder: Path, vocab_size: int) -> tuple[list[str], list[int], str]:
    """convert_hf_to_gguf.py get_vocab_base: tokens, token types, pre-tokenizer name."""
    import gguf
    from transformers import AutoTokenizer

    spec = (
        json.loads((folder / "tokenizer.json").read_text())
        if (folder / "tokenizer.json").exists()
        else {}
    )
    if (spec.get("model") or {}).get("type") != "BPE":
        raise UnsupportedModelError(
            "GGUF export handles byte-level BPE tokenizers (GPT-2, SmolLM, Llama 3) only",
            hint="convert with llama.cpp's convert_hf_to_gguf.py, or export --format onnx/ct2",
        )
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokpre = _pre_tokenizer(folder, tokenizer)
    reverse = {i: t for t, i in tokenizer.get_vocab().items()}
    added = tokenizer.get_added_vocab()
    decoder = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        token = reverse[i]
        if token in added:
            if not decoder[i].normalized:  # llama.cpp expects added tokens pre-normalized
                token = tokenizer.decode(tokenizer.encode(token, add_special_tokens=False))
            special = decoder[i].special or (token.startswith("<|") and token.endswith("|>"))
            types.append(gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
        tokens.append(token)
    return tokens, types, tokpre


# ---------------------------------------------------------------- hyperparameters
def _rope_theta(config: dict[str, Any]) -> float | None:
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    kind = rope.get("rope_type") or rope.get("type") or "default"
    if kind != "default":
        raise UnsupportedModelError(
            f"GGUF export does not handle '{kind}' rope scaling",
            hint="convert with llama.cpp's convert_hf_to_gguf.py",
        )
    return config.get("rope_theta") or rope.get("rope_theta")


def _hyperparameters(writer, arch: str, config: dict[str, Any]) -> int:
    """TextModel/LlamaModel/GPT2Model.set_gguf_parameters. Returns the block count."""
    if arch == "gpt2":
        writer.add_context_length(config["n_positions"])
        writer.add_embedding_length(config["n_embd"])
        writer.add_feed_forward_length(config.get("n_inner") or 4 * config["n_embd"])
        writer.add_head_count(config["n_head"])
        writer.add_layer_norm_eps(config["layer_norm_epsilon"])
        writer.add_block_count(config["n_layer"])
        return config["n_layer"]
    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads") or heads)
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    if (theta := _rope_theta(config)) is not None:
        writer.add_rope_freq_base(float(theta))
    writer.add_vocab_size(config["vocab_size"])
    writer.add_rope_dimension_count(head_dim)
    if head_dim != config["hidden_size"] // heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    return config["num_hidden_layers"]


# ---------------------------------------------------------------- tensors
def _permute(weights, n_head: int, n_head_kv: int | None):
    """LlamaModel.permute: HF's rotate-half q/k layout → llama.cpp's interleaved RoPE pairs."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _tensors(folder: Path, arch: str, config: dict[str, Any], blocks: int):
    """(gguf name, float32 numpy array) for every weight, as convert_hf_to_gguf maps them."""
    import gguf
    from safetensors import safe_open

    tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH[arch.upper()], blocks)
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise UnsupportedModelError(
            f"{folder} has no safetensors weights", hint="export a model saved as safetensors"
        )
    heads = config.get("num_attention_heads") or config.get("n_head")
    kv_heads = config.get("num_key_value_heads")
    tied = config.get("tie_word_embeddings", True)
    for file in files:
        with safe_open(str(file), framework="pt") as fh:
            for name in fh.keys():  # noqa: SIM118 - safe_open is not iterable
                if name.endswith((".attn.bias", ".attn.masked_bias", "rotary_emb.inv_freq")):
                    continue
                if name == "lm_head.weight" and tied:
                    continue
                data = fh.get_tensor(name).float().numpy()
                if arch == "llama" and name.endswith(("q_proj.weight", "q_proj.bias")):
                    data = _permute(data, heads, heads)
                elif arch == "llama" and name.endswith(("k_proj.weight", "k_proj.bias")):
                    data = _permute(data, heads, kv_heads)
                elif arch == "gpt2" and name.endswith(
                    (".c_attn.weight", ".c_proj.weight", ".c_fc.weight")
                ):
                    data = data.T.copy()  # Conv1D stores (in, out)
                new = tmap.get_name(name, try_suffixes=(".weight", ".bias"))
                if new is None:
                    raise UnsupportedModelError(
                        f"GGUF export does not know where the tensor '{name}' goes",
                        hint="convert with llama.cpp's convert_hf_to_gguf.py",
                    )
                yield new, data
                if arch == "gpt2" and new == "token_embd.weight":
                    yield "output.weight", data  # GPT-2's output is tied to wte


def _use_more_bits(layer: int, layers: int) -> bool:
    return layer < layers // 8 or layer >= 7 * layers // 8 or (layer - layers // 8) % 3 == 2


def _q4_k_m_type(name: str, shape: tuple[int, ...], blocks: int, has_output: bool):
    """llama_tensor_get_type for LLAMA_FTYPE_MOSTLY_Q4_K_M (Llama/GPT-2 branches), then
    tensor_type_fallback for rows that are not a multiple of the block size."""
    import gguf

    T = gguf.GGMLQuantizationType
    qtype = T.Q4_K
    layer = int(name.split(".")[1]) if name.startswith("blk.") else 0
    if name == "output.weight" or (not has_output and name == "token_embd.weight"):
        qtype = T.Q6_K if shape[-1] % 256 == 0 else T.Q8_0
    elif name.endswith(("attn_v.weight", "attn_qkv.weight")):
        if name.endswith("attn_qkv.weight"):
            qtype = T.Q5_K
        elif _use_more_bits(layer, blocks):
            qtype = T.Q6_K
    elif name.endswith("ffn_down.weight") and _use_more_bits(layer, blocks):
        qtype = T.Q6_K
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    if shape[-1] % block:
        qtype = {T.Q4_K: T.Q5_0, T.Q5_K: T.Q5_1, T.Q6_K: T.Q8_0}.get(qtype, T.F16)
    if shape[-1] % gguf.GGML_QUANT_SIZES[qtype][0]:
        qtype = T.F16
    return qtype


def _ggml_quantize():
    """llama.cpp's quantizer (ggml_quantize_chunk) from the ggml inside the xllamacpp wheel."""
    import ctypes

    try:
        import xllamacpp
    except ImportError:
        fn = None
    else:
        try:
            fn = ctypes.CDLL(xllamacpp.xllamacpp.__file__).ggml_quantize_chunk
        except (OSError, AttributeError):
            fn = None
    if fn is None:
        raise UnsupportedModelError(
            "q4_k_m needs llama.cpp's quantizer, which this install does not have",
            hint="pip install 'pretrained[export]' (xllamacpp), or use --quantize q8_0 or f16",
        )
    fn.restype = ctypes.c_size_t
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_int64] * 3
    fn.argtypes.append(ctypes.c_void_p)
    return fn


def _encode(name: str, data, quantize: str, blocks: int, has_output: bool, quantizer):
    """(bytes-or-floats array, ggml type) for one tensor."""
    import numpy as np
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, quants

    T = GGMLQuantizationType
    if data.ndim < 2 or not name.endswith(".weight") or "norm" in name:
        return data.astype(np.float32), T.F32
    if quantize == "f16":
        return data.astype(np.float16), T.F16
    if quantize == "q8_0":
        if data.shape[-1] % GGML_QUANT_SIZES[T.Q8_0][0]:
            return data.astype(np.float16), T.F16
        return quants.quantize(data, T.Q8_0), T.Q8_0
    qtype = _q4_k_m_type(name, data.shape, blocks, has_output)
    if qtype == T.F16:
        return data.astype(np.float16), T.F16
    if qtype == T.Q8_0:
        return quants.quantize(data, T.Q8_0), T.Q8_0
    rows = np.ascontiguousarray(data.reshape(-1, data.shape[-1]), dtype=np.float32)
    block, size = GGML_QUANT_SIZES[qtype]
    out = np.zeros((rows.shape[0], rows.shape[1] // block * size), dtype=np.uint8)
    written = quantizer(int(qtype), rows.ctypes.data, out.ctypes.data, 0, *rows.shape, None)
    if written != out.size:  # pragma: no cover - a ggml that disagrees with gguf's block sizes
        raise UnsupportedModelError(f"llama.cpp's quantizer wrote {written} bytes for {name}")
    return out.reshape(*data.shape[:-1], -1), qtype


FILE_TYPES = {"f16": 1, "q8_0": 7, "q4_k_m": 15}  # llama_ftype


def convert(folder: Path, target: Path, quantize: str, *, name: str) -> dict[str, Any]:
    """Write `target` (.gguf) from the model in `folder`. Returns what went in."""
    import gguf

    config = json.loads((folder / "config.json").read_text())
    archs = config.get("architectures") or []
    arch = next((ARCHS[a] for a in archs if a in ARCHS), None)
    if arch is None:
        raise UnsupportedModelError(
            f"GGUF export handles Llama and GPT-2 models, not {', '.join(archs) or 'this one'}",
            hint="convert with llama.cpp's convert_hf_to_gguf.py, or export --format onnx/ct2",
        )
    quantizer = _ggml_quantize() if quantize == "q4_k_m" else None
    logging.getLogger("gguf").setLevel(logging.ERROR)  # SpecialVocab's notes on templates
    writer = gguf.GGUFWriter(str(target), arch)
    writer.add_name(name)
    blocks = _hyperparameters(writer, arch, config)
    writer.add_file_type(FILE_TYPES[quantize])
    if quantize != "f16":
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    tokens, types, tokpre = _vocabulary(folder, config.get("vocab_size") or 0)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(tokpre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(folder, load_merges=True, n_vocab=len(tokens))
    special.add_to_gguf(writer, quiet=True)
    has_output = arch == "gpt2" or not config.get("tie_word_embeddings", True)
    counts: dict[str, int] = {}
    for tensor_name, data in _tensors(folder, arch, config, blocks):
        encoded, qtype = _encode(tensor_name, data, quantize, blocks, has_output, quantizer)
        writer.add_tensor(tensor_name, encoded, raw_dtype=qtype)
        counts[qtype.name] = counts.get(qtype.name, 0) + 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {
        "architecture": arch,
        "pre_tokenizer": tokpre,
        "tensor_types": counts,
        "special_tokens": dict(special.special_token_ids),
        "chat_template": special.chat_template is not None,
    }
