import pytest

import pretrained
from pretrained.errors import EmptyInputError, InvalidOptionError
from pretrained.tasks.tokenize import decode, parse_ids, tokenize


def test_pieces_ids_offsets(tiny_llama_dir):
    r = tokenize("A coconut", str(tiny_llama_dir))
    assert r.tokens[0].special and r.tokens[0].piece == "<s>" and r.tokens[0].start is None
    body = r.tokens[1:]
    assert "".join(t.text for t in body) == "A coconut"
    assert all(r.text[t.start : t.end].strip() == t.text.strip() for t in body)
    assert r.special_tokens["bos"] == {"token": "<s>", "id": r.tokens[0].id}
    assert r.count == len(r.ids) and r.vocab_size == 400
    assert tokenize("A coconut", str(tiny_llama_dir), add_special_tokens=False).count == r.count - 1


def test_decode_roundtrip(tiny_gpt2_dir):
    ids = pretrained.tokenize("Hello world", str(tiny_gpt2_dir)).ids
    assert decode(ids, str(tiny_gpt2_dir)).text == "Hello world"


def test_bad_ids_and_empty_text(tiny_gpt2_dir):
    assert parse_ids("1, 2 3") == [1, 2, 3]
    for bad in ("a,b", "", "-1"):
        with pytest.raises(InvalidOptionError):
            parse_ids(bad)
    with pytest.raises(InvalidOptionError, match="outside the vocabulary"):
        decode([10**6], str(tiny_gpt2_dir))
    with pytest.raises(EmptyInputError):
        tokenize("", str(tiny_gpt2_dir))
