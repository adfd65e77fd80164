import pytest
import yaml

from pretrained import runlog as runs
from tests.helpers import assert_one_line_error
from tests.train import helpers
from tests.train.helpers import write_quotes

# shared fixtures (a module-level name is all pytest needs)
one_torch_thread = helpers.one_torch_thread
finished_run = helpers.finished_run

FAST = [
    "--template",
    "Quote by {author}: {text}",
    "--max-steps",
    "4",
    "--lr",
    "5e-3",
    "--batch-size",
    "4",
    "--val-size",
    "4",
    "--num-samples",
    "2",
    "--sample-max-new-tokens",
    "6",
]


@pytest.fixture
def quotes(tmp_path):
    return write_quotes(tmp_path / "quotes.jsonl")


def test_dry_run_prints_the_preflight_and_writes_nothing(cli, quotes, tiny_gpt2_dir, tmp_path):
    out = tmp_path / "runs"
    result = cli(
        "finetune", quotes, "--model", tiny_gpt2_dir, *FAST, "--output-dir", out, "--dry-run"
    )
    assert result.exit_code == 0, result.stderr
    for expected in (
        "preflight",
        "truncation",
        "EOS",
        "collated batch keeps it",
        "targets    c_attn, c_fc, c_proj",
        "memory",
        "[<|endoftext|>]",
    ):
        assert expected in result.stdout, expected
    assert "loading" in result.stderr
    assert not out.exists()
    data = cli(
        "finetune",
        quotes,
        "--model",
        tiny_gpt2_dir,
        *FAST,
        "--output-dir",
        out,
        "--dry-run",
        "--json",
    ).json()
    assert data["status"] == "dry-run" and data["preflight"]["eos"]["collated_ok"] is True


def test_a_run_then_generate_from_its_folder(cli, quotes, tiny_llama_dir, tmp_path):
    out = tmp_path / "runs"
    result = cli(
        "finetune",
        quotes,
        "--model",
        tiny_llama_dir,
        *FAST,
        "--output-dir",
        out,
        "--name",
        "q",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["status"] == "completed" and data["steps"] == 4
    assert data["after"]["eval_loss"] < data["before"]["eval_loss"]
    logged = runs.recent(1)[0]
    assert logged["command"] == "finetune" and logged["task"] == "finetune"
    assert logged["status"] == "ok" and logged["extra"]["run_dir"] == str(out / "q")

    text = cli(
        "finetune", quotes, "--model", tiny_llama_dir, *FAST, "--output-dir", out, "--name", "q2"
    )
    assert text.exit_code == 0, text.stderr
    assert "eval loss" in text.stdout and "stop rate" in text.stdout
    assert f"--model {out / 'q2'}" in text.stdout

    gen = cli(
        "generate",
        "Quote by Mark Twain:",
        "--model",
        out / "q",
        "--temperature",
        "0",
        "--max-new-tokens",
        "5",
        "--json",
    )
    assert gen.exit_code == 0, gen.stderr
    assert gen.json()["chat_template"] is False


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "adapter"], "--method"),
        (["--lora-r", "0"], "--lora-r"),
        (["--val-size", "-1"], "--val-size"),
        (["--epochs", "0"], "--epochs"),
        (["--format", "sft"], "--format"),
        (["--report-to", "wandb"], "--report-to"),
        (["--prompt-template", "Quote by {author}:"], "--completion-field"),
        (["--resume", "--overwrite"], "--resume"),
        (["--name", "../escape"], "--name"),
    ],
)
def test_bad_options_are_usage_errors(cli, quotes, tiny_gpt2_dir, tmp_path, args, message):
    result = cli("finetune", quotes, "--model", tiny_gpt2_dir, "--output-dir", tmp_path, *args)
    assert_one_line_error(result, 2, message)


def test_missing_field_and_missing_data(cli, quotes, tiny_gpt2_dir, tmp_path):
    result = cli(
        "finetune",
        quotes,
        "--model",
        tiny_gpt2_dir,
        "--template",
        "{author}: {quote}",
        "--output-dir",
        tmp_path,
        "--dry-run",
    )
    assert_one_line_error(result, 1, "'quote'")
    assert "fields: text, author, tags" in result.stderr
    result = cli("finetune", tmp_path / "nope.jsonl", "--model", tiny_gpt2_dir)
    assert_one_line_error(result, 1, "nope.jsonl")


def test_qlora_on_cpu_is_a_clear_error(cli, quotes, tiny_gpt2_dir):
    result = cli("finetune", quotes, "--model", tiny_gpt2_dir, "--method", "qlora")
    assert_one_line_error(result, 1, "CUDA")
    assert "--method lora" in result.stderr


def test_resume_with_different_options_is_refused(cli, finished_run, tiny_gpt2_dir):
    data = yaml.safe_load((finished_run / "config.yaml").read_text())["data"]["path"]
    result = cli(
        "finetune",
        data,
        "--model",
        tiny_gpt2_dir,
        *FAST,
        "--lr",
        "1e-3",
        "--output-dir",
        finished_run.parent,
        "--name",
        finished_run.name,
        "--resume",
    )
    assert_one_line_error(result, 2, "training.lr")


def test_dpo_on_bad_pairs_is_a_one_line_error(cli, tiny_llama_dir, tmp_path):
    import json

    bad = tmp_path / "pairs.jsonl"
    rows = [{"prompt": "Quote by Mae West:", "chosen": "", "rejected": " You only live once."}] * 4
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = cli("finetune", bad, "--model", tiny_llama_dir, "--method", "dpo", "--dry-run")
    assert_one_line_error(result, 1, "'chosen' is empty")
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"prompt": "a", "chosen": "b"}) + "\n")
    result = cli("finetune", missing, "--model", tiny_llama_dir, "--method", "orpo")
    assert_one_line_error(result, 1, "lacks rejected")
    result = cli("finetune", bad, "--model", tiny_llama_dir, "--beta", "0.1")
    assert_one_line_error(result, 2, "--beta")


def test_a_dpo_run_prints_the_pair_metrics(cli, tiny_llama_dir, tmp_path):
    from tests.train.helpers import write_pairs

    pairs = write_pairs(tmp_path / "pairs.jsonl")
    args = ["--max-steps", "2", "--batch-size", "4", "--val-size", "6", "--num-samples", "1",
            "--sample-max-new-tokens", "4", "--output-dir", tmp_path / "runs"]  # fmt: skip
    result = cli("finetune", pairs, "--model", tiny_llama_dir, "--method", "dpo", *args)
    assert result.exit_code == 0, result.stderr
    for expected in ("reward accuracy", "reward margin", "preflight", "peak memory"):
        assert expected in result.stdout, expected
