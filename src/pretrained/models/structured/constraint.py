"""Output constraints: what a generation must match, checked before decoding and after it.

A `Constraint` is one of: a JSON schema, any JSON object, a regex, a choice among strings, or
a Lark grammar (the tool-call shapes of tasks/tools.py). Every kind compiles to one Lark
grammar for llguidance (https://github.com/guidance-ai/llguidance), the grammar engine every
constraining backend uses: llama.cpp through its built-in llguidance sampler
(`%llguidance` grammars), transformers through a logits processor (masking.py). One grammar
text, so two engines cannot disagree about what a constraint allows.

Checks happen in three places, so a constraint is never silently ignored:
- `parse()`/`check()`: a malformed schema (jsonschema's meta-schema), a regex that does not
  compile, an empty choice, or a constraint the grammar compiler proves unsatisfiable
  (minimum > maximum, `false`, an empty enum …) → ConstraintError, before any model loads;
- masking.py: a grammar that allows no first token for this tokenizer → ConstraintError;
- `check_output()`: the decoded text is parsed and validated (json + jsonschema, re.fullmatch,
  membership) → ConstraintUnmetError when decoding stopped before the constraint was met.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ConstraintError, ConstraintUnmetError, missing_dependency

KINDS = ("json_schema", "json_object", "regex", "choice", "lark")
# Whitespace JSON may hold between tokens: one optional newline and some indentation. Small
# models under llguidance's default (any whitespace) fill the token limit with blank lines
# ("{\n\n\n…", seen with a random tiny model); a schema's own "x-guidance" options win.
JSON_WHITESPACE = r"\n?[ \t]{0,12}"
# The JSON-schema dialect used when a schema names none ($schema): what OpenAI's strict mode
# and llguidance implement.
_OBJECT = {"type": "object"}


@dataclass(frozen=True)
class Constraint:
    kind: str  # one of KINDS
    spec: str  # schema JSON | regex | JSON list of choices | Lark text; "" for json_object
    name: str = ""  # what error messages call it ("the JSON schema", "tool get_weather" …)

    @property
    def schema(self) -> dict[str, Any] | None:
        if self.kind == "json_schema":
            return json.loads(self.spec)
        return dict(_OBJECT) if self.kind == "json_object" else None

    @property
    def choices(self) -> list[str]:
        return json.loads(self.spec) if self.kind == "choice" else []

    def lark(self) -> str:
        """The Lark grammar (llguidance's dialect) that this constraint is."""
        if self.kind in ("json_schema", "json_object"):
            return "start: " + json_lark(self.schema or _OBJECT)
        if self.kind == "regex":
            return "start: " + lark_regex(self.spec)
        if self.kind == "choice":
            return "start: " + " | ".join(json.dumps(c, ensure_ascii=False) for c in self.choices)
        return self.spec

    def describe(self) -> dict[str, Any]:
        """For run logs and --json output: the kind and what it holds."""
        value: Any = {
            "json_schema": self.schema,
            "json_object": True,
            "regex": self.spec,
            "choice": self.choices,
            "lark": self.name or "grammar",
        }[self.kind]
        return {self.kind: value}

    def check_output(self, text: str, finish_reason: str = "stop") -> Any:
        """The parsed output (a JSON value, or the text) if `text` satisfies the constraint;
        ConstraintUnmetError otherwise (the decoder stopped before the grammar was done)."""
        cut = (
            " (decoding stopped at the token limit before it was complete)"
            if finish_reason == "length"
            else ""
        )
        if self.kind in ("json_schema", "json_object"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConstraintUnmetError(f"the output is not valid JSON{cut}: {exc}") from None
            problem = schema_violation(value, self.schema or _OBJECT)
            if problem:
                raise ConstraintUnmetError(
                    f"the output does not match {self.label}{cut}: {problem}"
                )
            return value
        if self.kind == "regex" and not re.fullmatch(self.spec, text):
            raise ConstraintUnmetError(f"the output does not match the regex {self.spec!r}{cut}")
        if self.kind == "choice" and text not in self.choices:
            raise ConstraintUnmetError(f"the output {text!r} is not one of the choices{cut}")
        return text

    @property
    def label(self) -> str:
        return self.name or {"json_schema": "the JSON schema", "json_object": "a JSON object"}.get(
            self.kind, self.kind
        )


def json_lark(schema: dict[str, Any]) -> str:
    """A schema as a Lark %json item, with bounded whitespace unless the schema says otherwise."""
    options = {"whitespace_pattern": JSON_WHITESPACE, **(schema.get("x-guidance") or {})}
    return "%json " + json.dumps({**schema, "x-guidance": options}, ensure_ascii=False)


def lark_regex(pattern: str) -> str:
    """A Python-style regex as a Lark terminal (/.../ with slashes escaped)."""
    try:
        import llguidance
    except ImportError:
        raise missing_dependency("llguidance", "structured") from None

    return "/" + llguidance.regex_to_lark(pattern, "") + "/"


def schema_violation(value: Any, schema: dict[str, Any]) -> str | None:
    """The first way `value` breaks `schema` (jsonschema), as one line; None when it is valid."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    error = next(iter(validator.iter_errors(value)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{error.message}" + (f" (at {where})" if where else "")


@functools.lru_cache(maxsize=64)
def _validator(schema_json: str):
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - a dependency of the structured extra
        raise missing_dependency("jsonschema", "structured") from None
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


# ---------------------------------------------------------------- building and checking
def read_schema(value: Any, flag: str = "--json-schema") -> dict[str, Any]:
    """A JSON schema from a dict, JSON text, or the path of a .json file (the CLI's FILE|JSON)."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ConstraintError(
            f"{flag} must be a JSON schema (an object), a JSON text or a file",
            hint=f'e.g. {flag} \'{{"type": "object", "properties": {{"name": {{"type": "string"}}}}}}\'',
        )
    text = value
    if not value.lstrip().startswith("{"):
        path = Path(value).expanduser()
        if not path.is_file():
            raise ConstraintError(
                f"{flag} {value!r} is neither JSON nor a file",
                hint=f"pass a schema file ({flag} schema.json) or the schema itself as JSON",
            )
        text = path.read_text(encoding="utf-8")
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConstraintError(
            f"{flag} is not valid JSON: {exc}", hint="check the quotes and commas of the schema"
        ) from None
    if not isinstance(schema, dict):
        raise ConstraintError(
            f"{flag} must be a JSON object (a schema), not {type(schema).__name__}",
            hint='e.g. {"type": "object"}',
        )
    return schema


def build(
    *,
    json_schema: Any = None,
    json_object: bool = False,
    regex: str | None = None,
    choice: Any = None,
) -> Constraint | None:
    """The one constraint the options ask for (None for free decoding), checked."""
    given = [
        name
        for name, value in (
            ("--json-schema", json_schema),
            ("--json-object", json_object),
            ("--regex", regex),
            ("--choice", choice),
        )
        if value not in (None, False, "", (), [])
    ]
    if len(given) > 1:
        raise ConstraintError(
            f"{' and '.join(given)} cannot be combined: give one constraint",
            hint="a regex or choice can be a JSON schema's pattern / enum instead",
        )
    if json_schema not in (None, ""):
        schema = read_schema(json_schema)
        constraint = Constraint("json_schema", json.dumps(schema, ensure_ascii=False))
    elif json_object:
        constraint = Constraint("json_object", "")
    elif regex not in (None, ""):
        constraint = Constraint("regex", _regex(regex))
    elif choice not in (None, "", (), []):
        constraint = Constraint("choice", json.dumps(_choices(choice), ensure_ascii=False))
    else:
        return None
    return check(constraint)


def _regex(pattern: Any) -> str:
    if not isinstance(pattern, str):
        raise ConstraintError("--regex must be a text pattern", hint="e.g. --regex '[0-9]{3}'")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConstraintError(
            f"--regex {pattern!r} does not compile: {exc}", hint="check brackets and escapes"
        ) from None
    return pattern


def _choices(value: Any) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    if not all(isinstance(c, str) for c in items):
        raise ConstraintError("--choice takes text choices", hint="e.g. --choice yes,no,maybe")
    items = [c.strip() if isinstance(value, str) else c for c in items]
    if not items or any(not c for c in items):
        raise ConstraintError(
            "--choice needs non-empty choices", hint="e.g. --choice positive,negative"
        )
    if len(set(items)) != len(items):
        raise ConstraintError("--choice lists a choice twice", hint="list each choice once")
    return items


def check(constraint: Constraint) -> Constraint:
    """Refuse a schema that breaks the JSON-schema meta-schema, and any constraint the grammar
    compiler rejects or proves unsatisfiable; the constraint itself when it is fine."""
    if constraint.kind == "json_schema":
        _check_schema(constraint.spec, constraint.label)
    problem = grammar_problem(constraint.lark())
    if problem:
        raise ConstraintError(
            f"{constraint.label} cannot constrain decoding: {problem}",
            hint="fix the constraint; see docs/structured.md for what is supported",
        )
    return constraint


@functools.lru_cache(maxsize=64)
def _check_schema(spec: str, label: str) -> None:
    try:
        import jsonschema
    except ImportError:  # pragma: no cover
        raise missing_dependency("jsonschema", "structured") from None
    schema = json.loads(spec)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise ConstraintError(
            f"{label} is not a valid JSON schema: {exc.message}"
            + (f" (at {where})" if where else ""),
            hint='types are "object", "array", "string", "number", "integer", "boolean", "null"',
        ) from None


@functools.lru_cache(maxsize=128)
def grammar_problem(lark: str) -> str | None:
    """llguidance's first error line for this Lark grammar (None when it compiles)."""
    try:
        import llguidance
    except ImportError:
        raise missing_dependency("llguidance", "structured") from None
    message = llguidance.LLMatcher.validate_grammar(llguidance.LLMatcher.grammar_from_lark(lark))
    if not message or message.startswith("WARNING"):
        return None
    first = message.strip().splitlines()[0]
    return re.sub(r"^at \d+\(\d+\): ", "", first)
