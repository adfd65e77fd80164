"""LoadOptions (models/load_options.py): the Python API splits its keywords once into task
options and a LoadOptions, and that one object reaches the models/ loaders, each taking the
options its signature names. No model is loaded: the loaders are replaced by recorders that
keep the real signature (so `LoadOptions.call` reads the same parameters)."""

from __future__ import annotations

import functools

import pytest

import pretrained
import pretrained.models as models
from pretrained.errors import InvalidOptionError
from pretrained.jobs.batch_tasks import ModelSpec
from pretrained.models.backends.scripted import ScriptedTextBackend
from pretrained.models.load_options import LoadOptions
from tests.textkit import HashingEmbedder


def _record(monkeypatch, name: str, backend):
    """Replace models.<name> by a recorder with its signature; → the calls' keywords."""
    real = getattr(models, name)
    calls: list[dict] = []

    @functools.wraps(real)
    def fake(*args, **kwargs):
        calls.append({"args": args, **kwargs})
        return backend

    monkeypatch.setattr(models, name, fake)
    return calls


@pytest.mark.parametrize(
    ("call", "what"),
    [
        (lambda: pretrained.generate("Hi", devcie="cpu"), "generate"),
        (lambda: pretrained.chat([{"role": "user", "content": "Hi"}], dtyp="x"), "generate"),
        (lambda: pretrained.embed("a text", devcie="cpu"), "embed"),
        (lambda: pretrained.classify("I love it", revison="main"), "classify"),
    ],
)
def test_an_unknown_keyword_is_a_one_line_error_naming_the_known_ones(call, what):
    with pytest.raises(InvalidOptionError) as info:
        call()
    error = info.value
    assert error.message.startswith(f"unknown {what} option(s): ")
    assert "\n" not in error.message and "\n" not in error.hint
    assert "device" in error.hint and "revision" in error.hint  # the load keys are named


def test_the_api_keywords_reach_the_text_loader_as_one_loadoptions(monkeypatch):
    calls = _record(monkeypatch, "load", ScriptedTextBackend("hello there"))
    result = pretrained.generate("Hi", "some-model", device="cpu", revision="abc", temperature=0)
    assert result.text == "hello there"
    assert calls == [
        {
            "args": ("some-model",),
            "device": "cpu",
            "revision": "abc",
            "trust_remote_code": False,
            "trust_pickle": False,
        }
    ]
    # the same through the task, with the LoadOptions given whole
    from pretrained.tasks.generate import generate

    generate("Hi", "other", load_options=LoadOptions(dtype="float32", engine="transformers"))
    assert calls[-1]["dtype"] == "float32" and calls[-1]["engine"] == "transformers"


def test_a_task_hands_its_loadoptions_to_the_embedder(monkeypatch):
    calls = _record(monkeypatch, "load_embedder", HashingEmbedder())
    from pretrained.tasks.embed import embed

    embed(["a text"], "mini", load_options=LoadOptions(device="cpu", engine="onnx"))
    assert calls[-1] == {
        "args": ("mini",),
        "device": "cpu",
        "engine": "onnx",
        "trust_remote_code": False,
        "trust_pickle": False,
    }
    pretrained.embed(["a text"], "mini", trust_pickle=True)  # the API front: keywords
    assert calls[-1]["trust_pickle"] is True


def test_an_option_the_loader_has_no_parameter_for_is_refused(monkeypatch):
    calls = _record(monkeypatch, "load_embedder", HashingEmbedder())
    with pytest.raises(InvalidOptionError) as info:
        pretrained.embed(["a text"], quantize="8bit")
    assert info.value.message == "quantize does not apply to load_embedder"
    assert "device" in info.value.hint
    assert calls == []  # refused before any load


def test_helper_models_take_the_device_and_batch_tasks_what_their_loader_takes():
    load = LoadOptions(revision="abc", device="cpu", dtype="float16", quantize="8bit")
    assert load.device_only() == LoadOptions(device="cpu")
    spec = ModelSpec(name="m", revision="pinned", load_options=load)
    embedder = spec.load(models.load_embedder)  # an embedder has no dtype or quantize
    assert embedder == LoadOptions(revision="pinned", device="cpu")
    assert spec.load().dtype == "float16"
    assert load.identity() == {
        "dtype": "float16",
        "quantize": "8bit",
        "engine": None,
        "trust_remote_code": None,
    }
