"""Tiny random models built locally (a few hundred KB, seconds): a byte-level BPE tokenizer
trained on a small corpus, and GPT-2 / Llama configs small enough to train on a CPU."""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Quote by Oscar Wilde: Be yourself; everyone else is already taken.",
    "Hello world! Tokenizers cut text into pieces called tokens.",
    "A coconut is a fruit. Coconuts grow on palm trees near the sea.",
    "Machine learning models learn patterns from data and generalize.",
    "Once upon a time there was a small model that could generate text.",
] * 20

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tokenizer_dir(path: Path, chat: bool) -> Path:
    """A byte-level BPE tokenizer. chat=True: Llama-style BOS + ChatML template;
    chat=False: GPT-2 style (<|endoftext|> is BOS and EOS, no pad token)."""
    if (path / "tokenizer.json").exists():
        return path
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>"] + (["<s>", "</s>", "<|im_start|>", "<|im_end|>"] if chat else [])
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    if chat:
        bos = tok.token_to_id("<s>")
        tok.post_processor = processors.Sequence(
            [
                processors.ByteLevel(trim_offsets=False),
                processors.TemplateProcessing(
                    single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
                ),
            ]
        )
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok, bos_token="<s>", eos_token="<|im_end|>", unk_token="<|endoftext|>"
        )
        fast.chat_template = CHATML
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok,
            bos_token="<|endoftext|>",
            eos_token="<|endoftext|>",
            unk_token="<|endoftext|>",
        )
    path.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(path)
    return path


def gpt2_dir(path: Path, safe: bool = True) -> Path:
    if (path / "config.json").exists():
        return path
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer_dir(path, chat=False)
    tok = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tok),
        n_positions=128,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    model.save_pretrained(path)
    if not safe:  # transformers 5 always writes safetensors: make the pickle file ourselves
        torch.save(model.state_dict(), path / "pytorch_model.bin")
        (path / "model.safetensors").unlink()
    return path


def llama_dir(path: Path) -> Path:
    if (path / "config.json").exists():
        return path
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer_dir(path, chat=True)
    tok = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(path)
    return path
