"""The task-side hooks of constrained generation (tasks/generate.py and chat.py call these):
which engine runs a constrained request, the check that the constraint can start under the
model's tokenizer, and the validation of every output before it is returned."""

from __future__ import annotations

from typing import Any

from ..errors import ConstraintError
from ..models.backends.base import Completion, TextBackend


def needs_engine(options: Any) -> str | None:
    """What the options ask of the engine beyond free decoding (None: nothing)."""
    if options.constraint() is not None:
        return "a constraint"
    if options.logprobs is not None:
        return "logprobs"
    return None


def engine(backend: TextBackend, options: Any) -> TextBackend:
    """The backend that runs these options: `backend`, or the engine it hands off to (said on
    stderr). A constraint is then checked against that engine's tokenizer, before decoding."""
    what = needs_engine(options)
    if what is None:
        return backend
    from ..models.structured.handoff import engine_for

    backend = engine_for(backend, what)
    constraint = options.constraint()
    tokenizer = getattr(backend, "tokenizer", None)
    if constraint is not None and tokenizer is not None:
        from ..models.structured.masking import check_satisfiable

        check_satisfiable(tokenizer, constraint.lark())
    return backend


def check(options: Any, completions: list[Completion]) -> None:
    """Every output satisfies the constraint (ConstraintUnmetError otherwise), and logprobs were
    returned when asked for (an engine that silently dropped them would be a wrong answer)."""
    constraint = options.constraint()
    for completion in completions:
        if constraint is not None:
            constraint.check_output(completion.text, completion.finish_reason)
        if options.logprobs is not None and completion.logprobs is None:
            raise ConstraintError(
                "this engine returned no logprobs", hint="use --engine llama.cpp or transformers"
            )


def options_constraint(options: Any):
    """The Constraint of GenerateOptions (built and checked once per options object)."""
    from ..models.structured import build
    from ..models.structured.constraint import Constraint, check

    if options.grammar:
        return check(Constraint("lark", options.grammar, options.grammar_name or "the grammar"))
    return build(
        json_schema=options.json_schema,
        json_object=options.json_object,
        regex=options.regex,
        choice=options.choice,
    )
