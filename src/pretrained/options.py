"""Options declared once: a dataclass field carries its bounds, help text and example in its
metadata (`option(...)`), and everything else is derived from it — `validate()` (one error
text per rule, naming the CLI flag), `from_kwargs()` (unknown keys refused), the CLI's range
text, the UI's slider range and the API's pydantic bounds (`bounds()`).

    @dataclass(frozen=True)
    class Knobs:
        temperature: float = option(0.7, "Randomness; 0 = greedy.", ge=0, le=100, example=0.7)

        def validate(self) -> Knobs:
            return validate(self)

This module is on the bottom floor: it imports nothing of the package but errors.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import InvalidOptionError
from .errors import reject_unknown_options as reject_unknown

T = TypeVar("T")
KEY = "option"  # the metadata key


@dataclass(frozen=True)
class Spec:
    """What one option is: its help text, example, bounds and how its flag is spelled."""

    help: str = ""
    example: Any = None
    ge: float | None = None  # value ≥ ge
    gt: float | None = None  # value > gt
    le: float | None = None  # value ≤ le
    lt: float | None = None  # value < lt
    choices: tuple[str, ...] | None = None
    multiple_of: int | None = None
    note: str = ""  # said after the rule: "(0 = greedy)"
    hint: Any = None  # instead of "e.g. FLAG EXAMPLE": text, or a function of the bad value
    flag: str | None = None  # default: --field-name
    short: str | None = None  # "-n"
    nonempty: bool = False  # text (or each text of a list) must not be empty
    slider_max: float | None = None  # the UI's slider end when there is no upper bound
    step: float | None = None  # the UI's slider step


def option(default: Any = None, help: str = "", *, default_factory: Any = None, **spec: Any):
    """A dataclass field with its option spec in the metadata."""
    metadata = {KEY: Spec(help=help, **spec)}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def spec_of(field: dataclasses.Field) -> Spec | None:
    return field.metadata.get(KEY)


def specs(cls: Any) -> dict[str, tuple[dataclasses.Field, Spec]]:
    """Every field of an options dataclass that declares a spec, in declaration order."""
    return {f.name: (f, s) for f in dataclasses.fields(cls) if (s := spec_of(f)) is not None}


def flag(name: str, spec: Spec | None = None) -> str:
    return (spec.flag if spec and spec.flag else None) or "--" + name.replace("_", "-")


_KINDS = {int: "int", float: "float", bool: "bool", str: "str"}


@functools.cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)  # evaluating the annotations costs ~0.3 ms a call


def kind(cls: Any, name: str) -> str:
    """'int' | 'float' | 'bool' | 'str' | 'strs' (a tuple/list of text) | 'any', from the
    field's type annotation (None allowed or not)."""
    hint = _hints(cls)[name]
    base = hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        base = next(a for a in typing.get_args(hint) if a is not type(None))
    origin = typing.get_origin(base)
    if origin in (tuple, list):
        return "strs"
    return _KINDS.get(base, "any")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def bounds_text(spec: Spec, whole: bool) -> str:
    """The range in a few characters, for the CLI help: "≥ 1", "0 to 100", "(0, 1]"."""
    lo = spec.ge if spec.ge is not None else spec.gt
    hi = spec.le if spec.le is not None else spec.lt
    if lo is not None and hi is not None:
        if spec.ge is not None and spec.le is not None:
            text = f"{_num(lo)} to {_num(hi)}"
        else:
            left = "[" if spec.ge is not None else "("
            right = "]" if spec.le is not None else ")"
            text = f"{left}{_num(lo)}, {_num(hi)}{right}"
    elif lo is not None:
        text = f"{'≥' if spec.ge is not None else '>'} {_num(lo)}"
    elif hi is not None:
        text = f"{'≤' if spec.le is not None else '<'} {_num(hi)}"
    else:
        return ""
    if spec.multiple_of:
        text = f"a multiple of {spec.multiple_of}, {text}"
    return text


def rule(spec: Spec, whole: bool, *, too_big: bool = False) -> str:
    """The rule a bad value broke, as said in the error: 'a whole number ≥ 1', 'in (0, 1]',
    'a number ≥ 0 (0 = greedy)' (too small) / 'at most 100' (too big)."""
    what = "a whole number" if whole else "a number"
    lo = spec.ge if spec.ge is not None else spec.gt
    hi = spec.le if spec.le is not None else spec.lt
    note = f" {spec.note}" if spec.note else ""
    if lo is not None and hi is not None:
        if spec.multiple_of:
            return f"a multiple of {spec.multiple_of} from {_num(lo)} to {_num(hi)}"
        if whole:
            return f"{what} from {_num(lo)} to {_num(hi)}{note}"
        if spec.gt is not None or spec.lt is not None:
            return f"in {bounds_text(spec, whole)}{note}"
        if too_big:
            return f"at most {_num(hi)}"
        if not note:
            return f"{what} from {_num(lo)} to {_num(hi)}"
    if lo is not None:
        return f"{what} {'≥' if spec.ge is not None else '>'} {_num(lo)}{note}"
    if hi is not None:
        return f"{what} {'≤' if spec.le is not None else '<'} {_num(hi)}{note}"
    return what + note


def _is_number(value: Any, whole: bool) -> bool:
    if isinstance(value, bool):
        return False
    if whole:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def _problem(spec: Spec, kind_: str, value: Any) -> str | None:
    """→ the rule `value` breaks, or None when it is fine (None values are not checked)."""
    if kind_ in ("int", "float"):
        whole = kind_ == "int"
        if not _is_number(value, whole):
            return rule(spec, whole)
        if (spec.ge is not None and value < spec.ge) or (spec.gt is not None and value <= spec.gt):
            return rule(spec, whole)
        if (spec.le is not None and value > spec.le) or (spec.lt is not None and value >= spec.lt):
            return rule(spec, whole, too_big=True)
        if spec.multiple_of and value % spec.multiple_of:
            return rule(spec, whole)
        return None
    if kind_ == "str" and (not isinstance(value, str) or (spec.nonempty and not value)):
        return "non-empty text" if spec.nonempty else "text"
    if kind_ == "strs" and spec.nonempty and any(not isinstance(s, str) or not s for s in value):
        return "non-empty text"
    return None


def error(name: str, spec: Spec, value: Any, broken: str) -> InvalidOptionError:
    """The one error text of a bad option: '--top-p must be in (0, 1] (got 2)'."""
    name_flag = flag(name, spec)
    shown = list(value) if isinstance(value, tuple) else value
    hint = spec.hint(value) if callable(spec.hint) else spec.hint
    if hint is None:
        hint = f"e.g. {name_flag} {spec.example}"
    return InvalidOptionError(f"{name_flag} must be {broken} (got {shown!r})", hint=hint)


def validate(obj: T) -> T:
    """Check every field with a spec against it; → obj, or InvalidOptionError (first bad one)."""
    cls = type(obj)
    for name, (_field, spec) in specs(cls).items():
        value = getattr(obj, name)
        if value is None:
            continue
        if spec.choices is not None and value not in spec.choices:
            raise InvalidOptionError(
                f"unknown {name.replace('_', ' ')} {value!r} for {flag(name, spec)}",
                hint=f"use one of: {', '.join(spec.choices)}",
            )
        broken = _problem(spec, kind(cls, name), value)
        if broken is not None:
            raise error(name, spec, value, broken)
    return obj


def names(cls: Any) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def build(cls: type[T], values: Mapping[str, Any], what: str) -> T:
    """cls(**values) with unknown keys refused and None meaning "the default", validated
    (by the class's own validate() when it has one, else by the field specs)."""
    reject_unknown(values, names(cls), what)
    obj = cls(**{k: v for k, v in values.items() if v is not None})
    check = getattr(obj, "validate", None)
    return check() if callable(check) else validate(obj)


def bounds(cls: Any, name: str) -> dict[str, float]:
    """The field's bounds as keyword arguments (ge/gt/le/lt) for pydantic's Field()."""
    spec = specs(cls)[name][1]
    return {k: getattr(spec, k) for k in ("ge", "gt", "le", "lt") if getattr(spec, k) is not None}


def default(cls: Any, name: str) -> Any:
    field = specs(cls)[name][0] if name in specs(cls) else cls.__dataclass_fields__[name]
    return field.default


def help_text(cls: Any, name: str) -> str:
    """The field's help with its range: 'Randomness; 0 = greedy. Range: 0 to 100.'"""
    spec = specs(cls)[name][1]
    text = bounds_text(spec, kind(cls, name) == "int")
    if spec.choices:
        text = ", ".join(spec.choices)
    return (
        f"{spec.help} Range: {text}."
        if text and not spec.choices
        else (f"{spec.help} One of: {text}." if text else spec.help)
    )


def slider_range(cls: Any, name: str, limit: float | None = None) -> tuple[float, float, float]:
    """(minimum, maximum, step) of a UI slider for a numeric field: its bounds, the maximum
    capped by `limit` (a server's own cap) or, without an upper bound, `slider_max`."""
    spec = specs(cls)[name][1]
    whole = kind(cls, name) == "int"
    low = spec.ge if spec.ge is not None else spec.gt
    high = spec.le if spec.le is not None else spec.lt
    if spec.slider_max is not None:  # a narrower UI range, never a wider one
        high = spec.slider_max if high is None else min(high, spec.slider_max)
    if limit is not None:
        high = limit if high is None else min(high, limit)
    if low is None or high is None:
        raise ValueError(f"{cls.__name__}.{name} has no range for a slider")
    step = spec.step or (1 if whole else 0.05)
    if spec.gt is not None:  # the bound itself is not allowed: start one step above
        low = low + step
    return low, high, step
