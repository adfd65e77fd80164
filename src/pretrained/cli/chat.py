"""`pretrained chat`: a REPL with history. Ctrl-C stops a reply, not the session."""

from __future__ import annotations

import sys

import typer

from ..errors import PretrainedError
from . import _options as o
from . import _structured as c
from ._model import describe_knobs, load_backend
from ._output import info, print_error, print_json

HELP = """commands: /reset (forget the conversation) · /system TEXT (set the system prompt; empty clears it)
          /save FILE (write the conversation as JSON) · /history · /exit (or Ctrl-D)"""


def chat(
    model: o.Model = None,
    revision: o.Revision = None,
    device: o.Device = None,
    dtype: o.Dtype = None,
    quantize: o.Quantize = None,
    engine: o.Engine = "auto",
    trust_remote_code: o.TrustRemoteCode = False,
    trust_pickle: o.TrustPickle = False,
    max_new_tokens: o.MaxNewTokens = 256,
    temperature: o.Temperature = o.DEFAULTS.temperature,
    top_k: o.TopK = o.DEFAULTS.top_k,
    top_p: o.TopP = o.DEFAULTS.top_p,
    repetition_penalty: o.RepetitionPenalty = o.DEFAULTS.repetition_penalty,
    seed: o.Seed = None,
    stop: o.Stop = None,
    system: o.System = None,
    json_schema: c.JsonSchema = None,
    json_object: c.JsonObject = False,
    regex: c.Regex = None,
    choice: c.Choice = None,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Chat with a model in your terminal (reads lines from stdin when piped)."""
    from ..tasks.chat import ChatSession

    params = dict(locals())
    params.pop("system")  # the session holds the system prompt (/system changes it)
    options = o.generate_options(**params)
    backend = load_backend(o.load_params(params), quiet=quiet, task="chat")
    session = ChatSession(backend, options, system=system)
    interactive = sys.stdin.isatty()
    if not backend.has_chat_template:
        info(
            "this model has no chat template: using a plain 'User:/Assistant:' format", quiet=quiet
        )
    info(describe_knobs(options.describe()), quiet=quiet)
    if interactive and not quiet:
        info(HELP)
    while True:
        try:
            line = input("you> " if interactive else "")
        except EOFError:
            if interactive:
                sys.stdout.write("\n")
            break
        except KeyboardInterrupt:
            sys.stdout.write("\n")
            info("(type /exit or press Ctrl-D to leave)")
            continue
        text = line.strip()
        if not text:
            continue
        if text.startswith("/"):
            if _command(session, text):
                break
            continue
        _reply(session, text, json_out, interactive)


def _command(session, text: str) -> bool:
    """Run a /command. Returns True to leave the REPL."""
    name, _, arg = text.partition(" ")
    arg = arg.strip()
    if name in ("/exit", "/quit", "/bye"):
        return True
    if name == "/reset":
        session.reset()
        info("conversation cleared")
    elif name == "/system":
        session.set_system(arg)
        info(f"system prompt {'set' if arg else 'cleared'}")
    elif name == "/save":
        if not arg:
            print_error("/save needs a file name", "e.g. /save chat.json")
        else:
            try:
                info(f"saved to {session.save(arg)}")
            except PretrainedError as exc:
                print_error(exc.message, exc.hint)
    elif name == "/history":
        for message in session.history():
            sys.stdout.write(f"{message['role']}: {message['content']}\n")
    elif name == "/help":
        info(HELP)
    else:
        print_error(f"unknown command {name}", "type /help for the list")
    return False


def _reply(session, text: str, json_out: bool, interactive: bool) -> None:
    handle = session.send(text)
    if interactive and not json_out:
        sys.stdout.write("bot> ")
    shown = ""
    try:
        for piece in handle:
            shown += piece
            if not json_out:
                sys.stdout.write(piece)
                sys.stdout.flush()
    except KeyboardInterrupt:
        handle.close()
        session.record_reply(shown)
        sys.stdout.write("\n")
        info("(reply stopped)")
        return
    session.record_reply(shown)
    if json_out:
        print_json(handle.result.to_dict() if handle.result else {"text": shown}, compact=True)
    else:
        sys.stdout.write("\n")
        sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
