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


def clip_tokenizer_dir(path: Path) -> Path:
    """A CLIP tokenizer with a character-level vocabulary (no merges): enough to tokenize any
    English prompt for a tiny random text encoder."""
    from transformers import CLIPTokenizer

    chars = [chr(c) for c in range(33, 127)]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for tok in chars + [c + "</w>" for c in chars]:
        vocab[tok] = len(vocab)
    tok = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)
    tok.save_pretrained(path)
    return path


def diffusion_dir(path: Path) -> Path:
    """A tiny random Stable Diffusion pipeline (UNet + VAE + CLIP text encoder, ≈1 MB) saved with
    save_pretrained — loaded by `imagine --model PATH` exactly like a Hub pipeline."""
    if (path / "model_index.json").exists():
        return path
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tok_dir = clip_tokenizer_dir(path.with_name(path.name + "-tokenizer"))
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=4,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=4,
        sample_size=32,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            hidden_size=16,
            intermediate_size=32,
            num_attention_heads=2,
            num_hidden_layers=2,
            vocab_size=len(tokenizer),
            max_position_embeddings=16,
        )
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear"
    )
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(path)
    return path


def vits_dir(path: Path, num_speakers: int = 1) -> Path:
    """A tiny random VITS text-to-speech model (the MMS architecture) with a character
    tokenizer; ≈1 MB, synthesizes noise at 16 kHz in milliseconds."""
    if (path / "config.json").exists():
        return path
    import json

    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    path.mkdir(parents=True, exist_ok=True)
    letters = list("abcdefghijklmnopqrstuvwxyz '.,!?")
    vocab = {"<pad>": 0, "<unk>": 1, **{c: i + 2 for i, c in enumerate(letters)}}
    (path / "vocab.json").write_text(json.dumps(vocab))
    tok = VitsTokenizer(vocab_file=str(path / "vocab.json"), phonemize=False, add_blank=True)
    tok.save_pretrained(path)
    torch.manual_seed(0)
    config = VitsConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=32,
        flow_size=16,
        spectrogram_bins=33,
        upsample_initial_channel=16,
        upsample_rates=(4, 4),
        upsample_kernel_sizes=(8, 8),
        resblock_kernel_sizes=(3,),
        resblock_dilation_sizes=((1, 3),),
        duration_predictor_filter_channels=16,
        prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1,
        posterior_encoder_num_wavenet_layers=1,
        num_speakers=num_speakers,
        speaker_embedding_size=8 if num_speakers > 1 else 0,
        pad_token_id=0,
    )
    VitsModel(config).eval().save_pretrained(path)
    return path


def bert_tokenizer_dir(path: Path) -> Path:
    """A WordPiece tokenizer (BERT style: [CLS] … [SEP], [MASK]) trained on CORPUS."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(
        CORPUS,
        trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials, show_progress=False),
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    fast = BertTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(path)
    return path


BERT_HEADS = {
    "ner": ("BertForTokenClassification", ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG"]),
    "mlm": ("BertForMaskedLM", None),
    "nli": ("BertForSequenceClassification", ["contradiction", "neutral", "entailment"]),
    "base": ("BertModel", None),
    # a cross-encoder's shape: one relevance logit per (query, passage) pair
    "cross-encoder": ("BertForSequenceClassification", ["relevance"]),
}


def bert_dir(path: Path, head: str) -> Path:
    """A tiny random BERT with a task head: ner (token classification), mlm (fill-mask),
    nli (entailment labels, for zero-shot classification), cross-encoder (one relevance
    logit, for rerank) or base (feature extraction)."""
    if (path / "config.json").exists():
        return path
    import torch
    import transformers
    from transformers import AutoTokenizer, BertConfig

    bert_tokenizer_dir(path)
    tok = AutoTokenizer.from_pretrained(path)
    class_name, labels = BERT_HEADS[head]
    extra = {}
    if labels:
        extra = {
            "id2label": dict(enumerate(labels)),
            "label2id": {name: i for i, name in enumerate(labels)},
        }
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=tok.pad_token_id,
        **extra,
    )
    torch.manual_seed(0)
    getattr(transformers, class_name)(config).save_pretrained(path)
    return path


_POOLING_KEYS = {
    "cls": "pooling_mode_cls_token",
    "max": "pooling_mode_max_tokens",
    "mean": "pooling_mode_mean_tokens",
    "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens",
    "weightedmean": "pooling_mode_weightedmean_tokens",
    "lasttoken": "pooling_mode_lasttoken",
}


def sentence_transformer_dir(
    path: Path,
    base: Path,
    *,
    pooling: tuple[str, ...] = ("mean",),
    normalize: bool = True,
    max_seq_length: int = 24,
    dense: bool = False,
) -> Path:
    """A sentence-transformers folder around a tiny BERT (`bert_dir(..., "base")`), written the
    way sentence-transformers saves one: modules.json, 1_Pooling/config.json (one boolean per
    mode, which every version reads), sentence_bert_config.json, optionally a Normalize and a
    Dense module (which the torch-free engines refuse)."""
    import json
    import shutil

    if (path / "modules.json").exists():
        return path
    path.mkdir(parents=True, exist_ok=True)
    for item in base.iterdir():
        if item.is_file():
            shutil.copy2(item, path / item.name)
    config = json.loads((base / "config.json").read_text())
    hidden = config["hidden_size"]
    # models saved by transformers < 5 carry this key, which CTranslate2's BERT loader reads
    config.setdefault("position_embedding_type", "absolute")
    (path / "config.json").write_text(json.dumps(config, indent=2))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    (path / "1_Pooling").mkdir()
    config = {"word_embedding_dimension": hidden}
    config.update({key: mode in pooling for mode, key in _POOLING_KEYS.items()})
    (path / "1_Pooling" / "config.json").write_text(json.dumps(config, indent=2))
    if dense:
        from sentence_transformers.models import Dense

        (path / "2_Dense").mkdir()
        Dense(in_features=hidden * len(pooling), out_features=16).save(str(path / "2_Dense"))
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
        )
    if normalize:
        modules.append(
            {
                "idx": len(modules),
                "name": str(len(modules)),
                "path": f"{len(modules)}_Normalize",
                "type": "sentence_transformers.models.Normalize",
            }
        )
    (path / "modules.json").write_text(json.dumps(modules, indent=2))
    (path / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False})
    )
    return path
