"""ship/parity.py on a scripted reference: equal texts pass, a text parting at a near-tie passes
with a warning that names the token and the margin, anything else fails."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")


class Reference:
    """Logits [5, 4.5, 0, 0, 0] at every position: token 1 is a near-tie for 0, token 2 is not."""

    def __call__(self, input_ids, attention_mask=None):
        row = torch.tensor([5.0, 4.5, 0.0, 0.0, 0.0])
        return SimpleNamespace(logits=row.expand(*input_ids.shape, 5).clone())


class Tokenizer:
    def decode(self, ids, skip_special_tokens=True):
        return "".join("abcde"[i] for i in ids)


def _report(got):
    from pretrained.ship.parity import compare_greedy, verdict

    report = compare_greedy(Reference(), Tokenizer(), [("p", [3, 3], [0, 0, 0], got)], eos=[4])
    report["agreement"] = 1.0
    verdict(report, "q8_0 quantization", "agreement")
    return report


def test_equal_text_passes_without_warnings():
    report = _report([0, 0, 0])
    assert report["passed"] and report["warnings"] == [] and report["greedy_equal"] == "1/1"


def test_a_near_tie_passes_with_a_warning_that_says_where_and_why():
    report = _report([0, 1, 1])
    assert report["passed"] and report["greedy_equal"] == "0/1"
    (warning,) = report["warnings"]
    assert "from token 1" in warning and "'b' instead of 'a'" in warning
    assert "0.50 logits" in warning and "q8_0 quantization" in warning
    assert report["greedy"][0]["near_tie"] is True


def test_a_text_that_leaves_at_a_clear_choice_fails():
    report = _report([0, 2, 0])
    assert not report["passed"]
    assert any("not a near-tie" in p for p in report["problems"])


def test_low_agreement_fails_even_with_equal_text():
    from pretrained.ship.parity import compare_greedy, verdict

    report = compare_greedy(Reference(), Tokenizer(), [("p", [3], [0], [0])], eos=[4])
    report["agreement"] = 0.5
    verdict(report, "q4_k_m quantization", "agreement")
    assert not report["passed"] and "agreement 50%" in report["problems"][0]
