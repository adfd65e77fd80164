"""Options declared once (pretrained.options): the generic validate(), and one bound changed in
a field's metadata showing up in the CLI help, the UI's slider and the API's answer."""

from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass

import pytest

from pretrained import options
from pretrained.errors import InvalidOptionError
from pretrained.tasks.generate import GenerateOptions
from tests.serve.conftest import make_app

CHAT = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Hi"}]}


@dataclass(frozen=True)
class Knobs:
    count: int = options.option(3, "How many.", ge=1, le=9, example=3)
    ratio: float = options.option(0.5, "A share.", gt=0, le=1, example=0.5)
    level: float = options.option(1.0, "Level.", ge=0, le=10, note="(0 = off)", example=1)
    mode: str = options.option("a", "Mode.", choices=("a", "b", "c"), example="b")
    words: tuple[str, ...] = options.option((), "Words.", nonempty=True, example="x")
    side: int | None = options.option(None, "Side.", ge=8, le=64, multiple_of=8, example=16)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"count": 0}, "--count must be a whole number from 1 to 9 (got 0)"),
        ({"count": 2.5}, "--count must be a whole number from 1 to 9 (got 2.5)"),
        ({"count": True}, "--count must be a whole number from 1 to 9 (got True)"),
        ({"ratio": 0}, "--ratio must be in (0, 1] (got 0)"),
        ({"ratio": float("nan")}, "--ratio must be in (0, 1] (got nan)"),
        ({"level": -1}, "--level must be a number ≥ 0 (0 = off) (got -1)"),
        ({"level": 11}, "--level must be at most 10 (got 11)"),
        ({"mode": "z"}, "unknown mode 'z' for --mode"),
        ({"words": ("ok", "")}, "--words must be non-empty text (got ['ok', ''])"),
        ({"side": 12}, "--side must be a multiple of 8 from 8 to 64 (got 12)"),
        ({"bogus": 1}, "unknown knob option(s): bogus"),
    ],
)
def test_validate_names_the_flag_and_the_rule(values, message):
    with pytest.raises(InvalidOptionError) as info:
        options.build(Knobs, values, "knob")
    assert info.value.message == message
    assert info.value.hint


def test_good_values_and_none_pass():
    knobs = options.build(Knobs, {"count": 9, "ratio": 1, "side": None, "words": ("a",)}, "knob")
    assert knobs.count == 9 and knobs.side is None
    assert options.validate(Knobs()) == Knobs()


def test_ranges_for_the_cli_and_the_ui():
    assert options.help_text(Knobs, "count") == "How many. Range: 1 to 9."
    assert options.help_text(Knobs, "ratio") == "A share. Range: (0, 1]."
    assert options.slider_range(Knobs, "count") == (1, 9, 1)
    assert options.slider_range(Knobs, "count", limit=5) == (1, 5, 1)
    assert options.bounds(Knobs, "ratio") == {"gt": 0, "le": 1}


def _change_bound(monkeypatch, cls, name: str, **bounds) -> None:
    """Edit one field's declared bounds, as a one-line change in the dataclass would."""
    field = cls.__dataclass_fields__[name]
    spec = dataclasses.replace(field.metadata[options.KEY], **bounds)
    monkeypatch.setattr(field, "metadata", types.MappingProxyType({options.KEY: spec}))


def _ui_slider(client, label: str) -> dict:
    config = client.get("/config").json()
    (slider,) = [c["props"] for c in config["components"] if c["props"].get("label") == label]
    return slider


def _help(cli) -> str:
    return " ".join(cli("generate", "--help").stdout.split())


def test_one_bound_changes_the_cli_help_the_ui_slider_and_the_api(monkeypatch, cli):
    from fastapi.testclient import TestClient

    monkeypatch.setenv("COLUMNS", "250")
    assert "Range: 0 to 100." in _help(cli)
    with TestClient(make_app(ui=True)) as client:
        assert _ui_slider(client, "temperature (0 = greedy)")["maximum"] == 2  # the UI's own cap
        assert client.post("/v1/chat/completions", json={**CHAT, "temperature": 1.8}).is_success

    _change_bound(monkeypatch, GenerateOptions, "temperature", le=1.5)

    assert "Range: 0 to 1.5." in _help(cli)
    bad = cli("generate", "hi", "--temperature", "1.8")
    assert bad.exit_code == 2 and "--temperature must be at most 1.5" in bad.stderr
    with TestClient(make_app(ui=True)) as client:
        assert _ui_slider(client, "temperature (0 = greedy)")["maximum"] == 1.5
        answer = client.post("/v1/chat/completions", json={**CHAT, "temperature": 1.8})
        assert answer.status_code == 400, answer.text
        assert "at most 1.5" in answer.json()["error"]["message"]


def test_the_api_request_bounds_are_the_declared_ones():
    """The pydantic fields (422 before any work) carry exactly the dataclass bounds."""
    from pretrained.serve.schemas import Sampling

    pairs = {
        "max_tokens": "max_new_tokens",
        "temperature": "temperature",
        "top_p": "top_p",
        "top_k": "top_k",
        "repetition_penalty": "repetition_penalty",
        "seed": "seed",
    }
    for api_name, name in pairs.items():
        declared = options.bounds(GenerateOptions, name)
        got = {}
        for item in Sampling.model_fields[api_name].metadata:
            for key in ("ge", "gt", "le", "lt"):
                if getattr(item, key, None) is not None:
                    got[key] = getattr(item, key)
        assert got == declared, api_name


def test_a_bound_outside_the_declared_range_is_a_422_before_any_work():
    from fastapi.testclient import TestClient

    with TestClient(make_app()) as client:
        answer = client.post("/v1/chat/completions", json={**CHAT, "top_p": 1.5})
    assert answer.status_code in (400, 422) and "Traceback" not in answer.text
