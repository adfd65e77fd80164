"""The `pretrained` command: a thin Typer app over the library API.

Each command lives in its own module with a `register(app)` function; add new ones to
COMMANDS. `main()` turns every error into `error:`/`hint:` lines and an exit code
(1 runtime, 2 usage, 130 interrupted) and wraps each command in a run-log entry.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Annotated, Any

import typer

from .. import runlog, settings
from .._util import first_line
from ..errors import PretrainedError
from ._output import print_error

COMMANDS = (
    "generate",
    "chat",
    "tokenize",
    "models",
    "doctor",
    "logs",
    "summarize",
    "classify",
    "embed",
    "ask",
    "rerank",
    "mcp",
    "eval",
    "run",
    "speak",
    "imagine",
    "transcribe",
    "jobs",
    "serve",
    "space",
    "init",
    "batch",
    "export",
    "finetune",
    "push",
)

app = typer.Typer(
    name="pretrained",
    help="Run, fine-tune, evaluate and ship pre-trained models — offline-first.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"pretrained {version('pretrained')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = None,
) -> None:
    """Run, fine-tune, evaluate and ship pre-trained models — offline-first."""


_registered: set[str] = set()
# Commands that make one model request and exit: llama.cpp starts sized to that request
# (models/backends/llamacpp.py one_shot) instead of a server's full context and slots.
ONE_SHOT = ("generate", "summarize", "ask", "run")


def _register(names) -> None:
    for name in names:
        if name not in _registered:
            importlib.import_module(f"{__package__}.{name}").register(app)
            _registered.add(name)


def _command_for(args: list[str]) -> str | None:
    """The command module `args` runs, when it is plainly one (else None: load them all,
    for --help, a typo's suggestions, or a command registered under another name)."""
    first = args[0] if args else None
    return first if first in COMMANDS else None


# Typer ≥ 0.2x vendors its own copy of Click, so Click's classes are matched by shape here
# (a group has .commands; a Click exception has exit_code and format_message), which works
# with either copy.
def _instrument(command: Any, path: list[str]) -> None:
    """Wrap every leaf command so its invocation is recorded in the run log."""
    if isinstance(getattr(command, "commands", None), dict):
        for name, sub in command.commands.items():
            _instrument(sub, [*path, name])
        return
    original = command.invoke

    def invoke(ctx: Any, _original=original, _name=" ".join(path)):
        with runlog.track(_name, params=dict(ctx.params)):
            return _original(ctx)

    command.invoke = invoke  # type: ignore[method-assign]


def _is_click_error(exc: BaseException) -> bool:
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


def _usage_hint(exc: Any) -> str:
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "pretrained"
    return f"run '{path} --help' to see the accepted options"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    name = _command_for(args)
    # only the command that runs is imported and built: the others cost ≈ 0.1 s of start-up
    _register([name] if name else COMMANDS)
    command = typer.main.get_command(app)
    _instrument(command, [])
    if name in ONE_SHOT:
        from ..models.backends import llamacpp

        llamacpp.one_shot(True)
    try:
        result = command.main(args=args, prog_name="pretrained", standalone_mode=False)
        sys.stdout.flush()
        return result if isinstance(result, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except PretrainedError as exc:
        if settings.debug():
            traceback.print_exc()
        print_error(exc.message, exc.hint)
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return 130
    except BrokenPipeError:  # `pretrained … | head` closed the pipe: not an error
        return 0
    except Exception as exc:
        if settings.debug():
            traceback.print_exc()
        if type(exc).__name__ == "Abort":
            sys.stderr.write("aborted\n")
            return 130
        if type(exc).__name__ == "Exit" and hasattr(exc, "exit_code"):
            return exc.exit_code
        if _is_click_error(exc):  # usage errors: unknown option, bad value, missing argument
            if exc.format_message():  # NoArgsIsHelpError has printed the help already
                print_error(exc.format_message(), _usage_hint(exc))
            return exc.exit_code
        # the last line of defence: still one line, never a traceback
        first = first_line(exc, "")
        print_error(
            f"unexpected {type(exc).__name__}: {first}",
            "this is a bug or an unhandled case; rerun with PRETRAINED_DEBUG=1 for the traceback",
        )
        return 1
    finally:
        if name in ONE_SHOT:  # in-process callers (tests) go on with other commands
            from ..models.backends import llamacpp

            llamacpp.one_shot(False)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
