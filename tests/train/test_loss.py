"""The chunked cross-entropy equals the plain one, in value and gradient."""

import pytest

from tests.train import helpers

one_torch_thread = helpers.one_torch_thread


def _plain(hidden, weight, labels, bias=None):
    import torch.nn.functional as F

    logits = F.linear(hidden[:, :-1], weight, bias).float()
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), reduction="sum"
    )


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000])
@pytest.mark.parametrize("with_bias", [False, True])
def test_chunked_nll_matches_plain_cross_entropy_and_its_gradients(chunk, with_bias):
    import torch

    from pretrained.train.loss import chunked_nll
    from pretrained.train.template import IGNORE

    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 9, 16, generator=gen, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(50, 16, generator=gen, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(50, generator=gen, dtype=torch.float64, requires_grad=True)
    bias = bias if with_bias else None
    labels = torch.randint(0, 50, (3, 9), generator=gen)
    labels[0, :4] = IGNORE  # a prompt
    labels[2, 6:] = IGNORE  # padding

    ours, n = chunked_nll(hidden, weight, labels, bias, chunk=chunk)
    assert n == int((labels[:, 1:] != IGNORE).sum()) == 3 * 8 - 3 - 3
    grads = torch.autograd.grad(ours, [hidden, weight] + ([bias] if with_bias else []))
    theirs = _plain(hidden, weight, labels, bias)
    expected = torch.autograd.grad(theirs, [hidden, weight] + ([bias] if with_bias else []))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)
    for a, b in zip(grads, expected, strict=True):
        assert torch.allclose(a, b.to(a.dtype), atol=1e-5), (a - b).abs().max()


def test_no_labelled_position_still_backpropagates():
    import torch

    from pretrained.train.loss import chunked_nll
    from pretrained.train.template import IGNORE

    hidden = torch.randn(1, 4, 8, requires_grad=True)
    total, n = chunked_nll(hidden, torch.randn(10, 8), torch.full((1, 4), IGNORE))
    total.backward()
    assert n == 0 and float(total) == 0.0 and hidden.grad is not None


def _batch(tokenizer):
    from pretrained.train.template import IGNORE, Collator

    texts = ["Quote by Oscar Wilde: Be yourself.", "Hello world! Tokens.", "A coconut is a fruit."]
    features = []
    for i, text in enumerate(texts):
        ids = tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
        labels = [IGNORE] * 3 + ids[3:] if i == 0 else list(ids)
        features.append({"input_ids": ids, "labels": labels})
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return Collator(pad)(features)


@pytest.mark.parametrize("method", ["lora", "full"])
@pytest.mark.parametrize("which", ["tiny_gpt2_dir", "tiny_llama_dir"])
def test_the_models_loss_and_gradients_through_the_chunked_head(request, which, method):
    """What training runs (decoder → chunked head) against the model's own forward."""
    import torch

    from pretrained.models.loading import load_causal_lm
    from pretrained.models.registry import resolve
    from pretrained.train import methods
    from pretrained.train.loss import causal_lm_nll, check_chunked, split_head

    loaded = load_causal_lm(resolve(str(request.getfixturevalue(which))), device="cpu")
    torch.manual_seed(0)
    net, _ = methods.apply(loaded.model, method, lora_dropout=0.0)
    if method == "lora":  # a LoRA B of zeros gives zero gradients to A: move it off zero
        for name, p in net.named_parameters():
            if "lora_B" in name:
                p.data.normal_(std=0.02)
    net.eval()  # no dropout: both paths must see the same network
    batch = _batch(loaded.tokenizer)
    parts = split_head(net)
    assert parts is not None
    trainable = [p for p in net.parameters() if p.requires_grad]

    ours, n = causal_lm_nll(net, batch, parts)
    ours_grads = torch.autograd.grad(ours / n, trainable)
    theirs, n2 = causal_lm_nll(net, batch, None)  # the model's own loss
    theirs_grads = torch.autograd.grad(theirs / n2, trainable)
    assert n == n2 > 0
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
    for a, b in zip(ours_grads, theirs_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4), (a - b).abs().max()
    used, why = check_chunked(net, batch)
    assert used is not None and "chunked" in why


def test_transformed_logits_fall_back_to_the_models_own_loss(tiny_llama_dir):
    from pretrained.models.loading import load_causal_lm
    from pretrained.models.registry import resolve
    from pretrained.train.loss import check_chunked, split_head

    loaded = load_causal_lm(resolve(str(tiny_llama_dir)), device="cpu")
    assert split_head(loaded.model) is not None
    loaded.model.config.final_logit_softcapping = 30.0  # as Gemma 2 does
    assert split_head(loaded.model) is None
    parts, why = check_chunked(loaded.model, _batch(loaded.tokenizer))
    assert parts is None and "own loss" in why


@pytest.mark.parametrize("own_head", [False, True])
def test_a_batch_mostly_padding_runs_as_length_groups_with_the_same_loss_and_gradients(
    tiny_llama_dir, own_head
):
    """One long example among short ones: cut into length groups, the summed loss and the
    gradients are those of the whole padded batch."""
    import torch

    from pretrained.models.loading import load_causal_lm
    from pretrained.models.registry import resolve
    from pretrained.train import methods
    from pretrained.train.loss import causal_lm_nll, length_groups, split_head
    from pretrained.train.template import IGNORE, Collator

    loaded = load_causal_lm(resolve(str(tiny_llama_dir)), device="cpu")
    torch.manual_seed(0)
    net, _ = methods.apply(loaded.model, "full")
    net.eval()
    tok = loaded.tokenizer
    texts = ["word " * 60, "Hi there.", "A coconut is a fruit.", "Ok.", "Short one here."]
    features = []
    for i, text in enumerate(texts):
        ids = tok(text)["input_ids"][:64] + [tok.eos_token_id]
        features.append({"input_ids": ids, "labels": [IGNORE] * 2 + ids[2:] if i else list(ids)})
    batch = Collator(tok.eos_token_id)(features)
    groups = length_groups(batch)
    assert len(groups) >= 2 and sum(g["input_ids"].shape[0] for g in groups) == len(texts)
    assert sum(g["input_ids"].numel() for g in groups) < batch["input_ids"].numel() / 2
    parts = None if own_head else split_head(net)
    trainable = [p for p in net.parameters() if p.requires_grad]
    split, n = causal_lm_nll(net, batch, parts)
    split_grads = torch.autograd.grad(split, trainable)
    whole, n2 = causal_lm_nll(net, batch, parts, split=False)
    whole_grads = torch.autograd.grad(whole, trainable)
    assert n == n2 > 0 and split.item() == pytest.approx(whole.item(), rel=1e-5)
    for a, b in zip(split_grads, whole_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4), (a - b).abs().max()
    little = Collator(tok.eos_token_id)(features[1:3])  # similar lengths: left whole
    assert length_groups(little) == [little]
