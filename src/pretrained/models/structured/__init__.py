"""Constrained decoding: output constraints (JSON schema, JSON object, regex, choice, Lark
grammars), checked before decoding and validated after it; token masks from llguidance; and
the hand-off to an engine that can apply them (docs/structured.md)."""

from __future__ import annotations

from .constraint import KINDS, Constraint, build, check, read_schema, schema_violation

__all__ = ["KINDS", "Constraint", "build", "check", "read_schema", "schema_violation"]
