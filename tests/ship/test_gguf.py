"""`pretrained export --format gguf`: tiny Llama / GPT-2 models and a tiny fine-tuning run
converted to GGUF, run by llama.cpp (xllamacpp), checked against transformers; the Ollama
Modelfile; a deliberately broken conversion that must fail its parity check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error

pytest.importorskip("xllamacpp")
pytest.importorskip("gguf")


@pytest.mark.parametrize("quantize", ["f16", "q8_0", "q4_k_m"])
def test_gguf_export_of_a_llama_runs_in_llama_cpp(cli, tiny_llama_dir, tmp_path, quantize):
    out = tmp_path / f"llama-{quantize}"
    result = cli(
        "export", str(tiny_llama_dir), "--format", "gguf", "--quantize", quantize,
        "-o", str(out), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["runtime"] == "llama.cpp" and data["passed"] and data["quantize"] == quantize
    parity = data["parity"]
    assert parity["agreement"] >= 0.8 and parity["path_margin"] <= 1.0
    assert all(row["equal"] or row["near_tie"] for row in parity["greedy"])
    gguf_file = out / f"{tiny_llama_dir.name}.{quantize.upper()}.gguf"
    assert gguf_file.is_file()

    import gguf

    reader = gguf.GGUFReader(str(gguf_file))
    fields = {name: reader.fields[name] for name in reader.fields}
    eos = int(fields["tokenizer.ggml.eos_token_id"].parts[-1][0])
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    assert eos == tok.eos_token_id  # EOS carried over (<|im_end|>)
    template = bytes(fields["tokenizer.chat_template"].parts[-1]).decode()
    assert template == tok.chat_template
    types = {t.tensor_type.name for t in reader.tensors}
    expected = {"f16": "F16", "q8_0": "Q8_0", "q4_k_m": "Q5_0"}[quantize]  # 32-wide rows
    assert expected in types

    # the export folder runs through `pretrained` on the llama.cpp engine, greedy text as
    # the original's (the tiny model has no near-ties on this prompt at f16/q8_0)
    args = ["Hello", "--temperature", "0", "--max-new-tokens", "6", "--json", "--raw"]
    exported = cli("generate", *args, "--model", str(out), "--engine", "llama.cpp")
    assert exported.exit_code == 0, exported.stderr
    assert exported.json()["engine"] == "llama.cpp"
    if quantize != "q4_k_m":
        original = cli(
            "generate", *args, "--model", str(tiny_llama_dir), "--engine", "transformers"
        )
        assert exported.json()["text"] == original.json()["text"]


def test_gguf_export_of_gpt2_and_its_tied_output(tiny_gpt2_dir, tmp_path):
    from pretrained.ship.export import ExportOptions, export_model

    result = export_model(str(tiny_gpt2_dir), tmp_path / "g", ExportOptions(format="gguf"))
    assert result.passed and result.parity["greedy_equal"] == "2/2"
    info = json.loads((tmp_path / "g" / "export.json").read_text())["gguf"]
    assert info["architecture"] == "gpt2" and info["pre_tokenizer"] == "gpt-2"


def test_modelfile_for_ollama(cli, tiny_llama_dir, tmp_path):
    out = tmp_path / "ollama"
    result = cli(
        "export", str(tiny_llama_dir), "--format", "gguf", "--quantize", "q8_0", "--ollama",
        "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    text = (out / "Modelfile").read_text()
    assert text.startswith(f"FROM ./{tiny_llama_dir.name}.Q8_0.gguf\n")
    assert 'TEMPLATE """{{- if .Messages }}' in text and "<|im_start|>{{ .Role }}" in text
    assert 'PARAMETER stop "<|im_end|>"' in text and "PARAMETER num_ctx 256" in text
    assert "SYSTEM" not in text  # this template has no default system prompt


def test_identify_reads_a_default_system_prompt(tiny_llama_dir, tmp_path):
    from transformers import AutoTokenizer

    from pretrained.ship.modelfile import identify

    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    tok.chat_template = (
        "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nBe brief.<|im_end|>\\n' }}"
        "{% endif %}" + tok.chat_template
    )
    assert identify(tok) == ("chatml", "Be brief.")
    tok.chat_template = "{% for m in messages %}### {{ m['content'] }}\n{% endfor %}"
    assert identify(tok) == (None, None)


def test_a_broken_conversion_fails_its_parity_check(monkeypatch, tiny_llama_dir, tmp_path, cli):
    import numpy as np

    from pretrained.ship import gguf as converter

    tensors = converter._tensors

    def perturbed(*args, **kwargs):
        rng = np.random.default_rng(0)
        for name, data in tensors(*args, **kwargs):
            if data.ndim == 2:
                data = data + rng.normal(0, 0.5, data.shape).astype(data.dtype)
            yield name, data

    monkeypatch.setattr(converter, "_tensors", perturbed)
    out = tmp_path / "broken"
    result = cli("export", str(tiny_llama_dir), "--format", "gguf", "-o", str(out))
    assert_one_line_error(result, 1, "failed its parity check")
    assert "not a near-tie" in result.stderr or "agreement" in result.stderr
    report = json.loads((out / "export.json").read_text())
    assert report["passed"] is False and report["parity"]["problems"]


def test_q4_k_m_without_llama_cpps_quantizer(monkeypatch, tiny_llama_dir, tmp_path, cli):
    from pretrained.errors import UnsupportedModelError
    from pretrained.ship import gguf as converter

    def missing():
        raise UnsupportedModelError(
            "q4_k_m needs llama.cpp's quantizer, which this install does not have",
            hint="use --quantize q8_0 or f16",
        )

    monkeypatch.setattr(converter, "_ggml_quantize", missing)
    result = cli(
        "export", str(tiny_llama_dir), "--format", "gguf", "--quantize", "q4_k_m",
        "-o", str(tmp_path / "q4"),
    )  # fmt: skip
    assert_one_line_error(result, 1, "llama.cpp's quantizer")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--format", "gguf", "--quantize", "int8"], 2, "unknown quantization 'int8' for a GGUF"),
        (["--format", "onnx", "--quantize", "q8_0"], 2, "unknown quantization"),
        (["--ollama"], 2, "--ollama goes with --format gguf"),
        (["--format", "gguf", "--task", "embed"], 2, "a GGUF export is a text generator"),
    ],
)
def test_bad_gguf_options(cli, tiny_llama_dir, tmp_path, args, code, message):
    result = cli("export", str(tiny_llama_dir), "-o", str(tmp_path / "x"), *args)
    assert_one_line_error(result, code, message)


def test_gguf_export_of_a_classifier_is_refused(cli, tiny_bert_dirs, tmp_path):
    result = cli(
        "export", str(tiny_bert_dirs["nli"]), "--format", "gguf", "-o", str(tmp_path / "c")
    )
    assert_one_line_error(result, 1, "GGUF")


def test_gguf_export_of_a_fine_tuning_run(cli, tiny_llama_dir, tmp_path):
    """The round trip a user makes: finetune → export --format gguf → generate with llama.cpp."""
    import pretrained
    from tests.train.helpers import run, write_quotes

    data = write_quotes(tmp_path / "quotes.jsonl")
    result = run(data, tiny_llama_dir, tmp_path / "runs", name="quotes", max_steps=20)
    run_dir = Path(result.run_dir)
    assert (run_dir / "adapter").is_dir() and not (run_dir / "merged").exists()
    out = tmp_path / "quotes-gguf"
    exported = cli(
        "export", str(run_dir), "--format", "gguf", "--quantize", "q8_0", "--ollama",
        "--max-new-tokens", "24", "-o", str(out), "--json",
    )  # fmt: skip
    assert exported.exit_code == 0, exported.stderr
    data = exported.json()
    assert data["passed"] and data["kind"] == "generate"
    # the parity check runs the prompts the run's own evaluation sampled ("Quote by …:")
    sampled = json.loads((run_dir / "metrics.json").read_text())["after"]["samples"]
    checked = [row["prompt"] for row in data["parity"]["greedy"]]
    assert sampled[0]["prompt"] in checked and checked[0].startswith("Quote by")
    # a plain-text run: its GGUF carries no chat template and its Modelfile continues prompts
    assert data["parity"]["eos"]["tokens"] == ["<|im_end|>"]
    assert 'TEMPLATE """{{ .Prompt }}"""' in (out / "Modelfile").read_text()
    args = ["Quote by Mark Twain:", "-t", "0", "-n", "12", "--json", "--raw"]
    gguf_text = cli("generate", *args, "--model", str(out), "--engine", "llama.cpp").json()["text"]
    backend = pretrained.load(str(run_dir))
    reference = pretrained.generate(
        "Quote by Mark Twain:", backend=backend, temperature=0, max_new_tokens=12, raw=True
    ).text
    row = next(r for r in data["parity"]["greedy"])
    assert gguf_text == reference or row.get("near_tie")


def test_a_pass_with_warnings_never_says_plain_passed(monkeypatch, cli, tiny_llama_dir, tmp_path):
    from pretrained.ship import parity

    real = parity.gguf_generation

    def with_a_near_tie(*args, **kwargs):
        report = real(*args, **kwargs)
        report["warnings"] = ["greedy text of 'x' differs from token 3: a near-tie"]
        return report

    monkeypatch.setattr(parity, "gguf_generation", with_a_near_tie)
    result = cli("export", str(tiny_llama_dir), "--format", "gguf", "-o", str(tmp_path / "w"))
    assert result.exit_code == 0, result.stderr
    assert "parity passed with warnings" in result.stderr
    assert "warning: greedy text of 'x' differs from token 3" in result.stderr


def test_identify_llama3_chat_format():
    from pretrained.ship.modelfile import OLLAMA_TEMPLATES, identify

    class Tok:
        bos_token = "<|begin_of_text|>"
        chat_template = "llama3"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            turns = "".join(
                f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>"
                for m in messages
            )
            return self.bos_token + turns + "<|start_header_id|>assistant<|end_header_id|>\n\n"

    assert identify(Tok()) == ("llama3-instruct", None)
    assert "<|eot_id|>" in OLLAMA_TEMPLATES["llama3-instruct"]


def test_gguf_export_without_llama_cpp(monkeypatch, cli, tiny_llama_dir, tmp_path):
    from pretrained.models.backends import llamacpp

    monkeypatch.setattr(llamacpp, "available", lambda: False)
    result = cli("export", str(tiny_llama_dir), "--format", "gguf", "-o", str(tmp_path / "n"))
    assert_one_line_error(result, 1, "'xllamacpp'")
    assert "pretrained[export]" in result.stderr
