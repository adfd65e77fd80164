"""`generate`/`chat` with --json-schema, --json-object, --regex, --choice: bad input is one
line (before any model loads), good input gives output that validates."""

from __future__ import annotations

import json

import pytest

from tests.helpers import assert_one_line_error


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--json-schema", '{"type": "strin"}'], "not a valid JSON schema"),
        (["--json-schema", '{"type": '], "not valid JSON"),
        (["--json-schema", "no-such-schema.json"], "neither JSON nor a file"),
        (["--json-schema", '{"type": "string", "minLength": 3, "maxLength": 1}'], "unsatisfiable"),
        (["--regex", "(unclosed"], "does not compile"),
        (["--choice", ",,"], "non-empty"),
        (["--choice", "a,b", "--json-object"], "cannot be combined"),
    ],
)
@pytest.mark.parametrize("command", ["generate", "chat"])
def test_bad_constraints_are_one_line_errors(cli, command, args, words):
    prompt = ["Hello"] if command == "generate" else []
    result = cli(command, *prompt, "--model", "no-such/model-anywhere", *args, input="hi\n")
    assert_one_line_error(result, 2, words)  # refused before the (unknown) model is looked up


def test_generate_json_schema_from_a_file(cli, tiny_llama_dir, tmp_path):
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
        "additionalProperties": False,
        "x-guidance": {"whitespace_flexible": False},
    }
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema))
    result = cli(
        "generate", "Hello", "--model", tiny_llama_dir, "--json-schema", path, "-n", "30",
        "--temperature", "1", "--seed", "3", "--engine", "transformers", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert json.loads(data["text"]) in ({"ok": True}, {"ok": False})
    assert data["options"]["json_schema"]["required"] == ["ok"]
    picked = cli(
        "generate", "Hello", "--model", tiny_llama_dir, "--choice", "left,right", "-n", "5",
        "--engine", "transformers", "--no-stream",
    )  # fmt: skip
    assert picked.exit_code == 0 and picked.stdout.strip() in ("left", "right"), picked.stderr
