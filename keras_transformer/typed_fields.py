"""Typed settings fields: help text, bounds, and one converter for them.

The run configuration (`keras_transformer.config`) and the decoding
settings (`keras_transformer.decoding.settings`) are frozen dataclasses
whose fields carry a help text and optional bounds (`setting(...)`).
`convert` turns a value into a field's type, from command-line text
(`--set decode.num_beams=4`) or from JSON and code (`translator.json`,
`Translator(num_beams=4)`), and says what it expected when it cannot;
`bound_problems` checks the bounds. This module imports nothing of the
package, so every layer can use it.
"""

import dataclasses
import math
import re
import types
import typing
from typing import Literal


def setting(default, help, factory=None, **bounds):
    """A dataclass field with its help text (`--help`) and optional bounds:
    `minimum` (inclusive), `above` and `below` (exclusive)."""
    metadata = {"help": help, **bounds}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


class Mismatch(ValueError):
    """A value that fits none of a field's types."""


def members(annotation):
    """The member types of a union (None last), or the type alone."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        found = typing.get_args(annotation)
    else:
        found = (annotation,)
    return sorted(found, key=lambda member: member is type(None))


def type_name(annotation):
    """The type as `--help` shows it: "int or None", "bool or 'auto'",
    "one of 'drop', 'truncate'"."""
    names = []
    for member in members(annotation):
        if typing.get_origin(member) is Literal:
            choices = typing.get_args(member)
            listed = ", ".join(repr(choice) for choice in choices)
            names.append(f"one of {listed}" if len(choices) > 1 else listed)
        else:
            names.append("None" if member is type(None) else member.__name__)
    return " or ".join(names)


# Text is tried against the members in this order: "none" is None before it
# is a string, "1" an int before it is a float.
_TEXT_ORDER = (type(None), Literal, bool, int, float, str)


def convert(value, annotation, from_text=False):
    """`value` as the field type `annotation`, or `Mismatch`.

    From text (`from_text=True`, the command line): `none`/`null` for None,
    a `Literal`'s choices, `true/false/1/0`, integers, finite floats, and
    any string. From JSON or code: the value must already have the type;
    ints are widened to float for float fields; bools are never numbers.
    """
    candidates = members(annotation)
    if from_text:
        candidates = sorted(
            candidates,
            key=lambda member: _TEXT_ORDER.index(typing.get_origin(member) or member),
        )
    for member in candidates:
        converted = _as_member(value, member, from_text)
        if converted is not _NO:
            return converted
    raise Mismatch(value)


_NO = object()


def _as_member(value, member, from_text):
    if typing.get_origin(member) is Literal:
        return value if value in typing.get_args(member) else _NO
    if from_text:
        return _text_as(value, member)
    if member is type(None):
        return None if value is None else _NO
    if isinstance(value, bool):
        return value if member is bool else _NO
    if member is int:
        return value if isinstance(value, int) else _NO
    if member is float:
        numeric = isinstance(value, (int, float)) and math.isfinite(value)
        return float(value) if numeric else _NO
    return value if member is str and isinstance(value, str) else _NO


def _text_as(text, member):
    lowered = text.lower()
    if member is type(None):
        return None if lowered in ("none", "null") else _NO
    if member is bool:
        return (
            lowered in ("true", "1") if lowered in ("true", "1", "false", "0") else _NO
        )
    if member is int:
        return int(text) if re.fullmatch(r"[+-]?\d[\d_]*", text) else _NO
    if member is float:
        try:
            value = float(text)
        except ValueError:
            return _NO
        return value if math.isfinite(value) else _NO
    return text if member is str else _NO


def mismatch_message(key, annotation, found):
    """What a value that fits no member of `annotation` is told."""
    expected = type_name(annotation)
    if all(
        typing.get_origin(m) is Literal or m is type(None) for m in members(annotation)
    ):
        return f"Invalid value for {key}: expected {expected}, found {found!r}"
    return f"Wrong type for {key}: expected {expected}, found {found!r}"


def bound_problems(key, value, bounds):
    """The bounds of a field's metadata that `value` breaks, as messages."""
    if value is None or isinstance(value, (str, bool)):
        return []
    if "minimum" in bounds and value < bounds["minimum"]:
        return [f"{key} must be at least {bounds['minimum']}, found {value!r}"]
    if "above" in bounds and value <= bounds["above"]:
        return [f"{key} must be greater than {bounds['above']}, found {value!r}"]
    if "below" in bounds and value >= bounds["below"]:
        return [f"{key} must be less than {bounds['below']}, found {value!r}"]
    return []
