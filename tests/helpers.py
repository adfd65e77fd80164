"""Running the CLI in-process with captured stdout/stderr and an exit code."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        import json

        return json.loads(self.stdout)


def run_cli(*args: str, input: str | None = None) -> CliResult:
    from click.testing import CliRunner

    from pretrained.cli.main import main

    runner = CliRunner()
    with runner.isolation(input=input) as (out, err, _):
        code = main([str(a) for a in args])
    return CliResult(code, out.getvalue().decode(), err.getvalue().decode())


def assert_one_line_error(result: CliResult, code: int, contains: str = "") -> None:
    """A bad input: the given exit code, 'error:' + 'hint:' lines, never a traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert any(line.startswith("hint: ") for line in lines), result.stderr
    assert "Traceback" not in result.stderr
    assert contains.lower() in errors[0].lower(), errors[0]
