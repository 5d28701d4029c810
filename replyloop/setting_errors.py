"""A setting the process cannot start with, said in one line: the variable as the person
set it, its value (secrets hidden) and what is allowed. One mapping for every field of
replyloop.settings.AllSettings (core's and each platform's), built from the field's type
and bounds, so a new field needs nothing here."""

from __future__ import annotations

import os
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import annotated_types
from pydantic import AliasChoices, BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo

from core.urls import mask_url

KINDS: dict[Any, str] = {
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    str: "a text",
    Path: "a path",
    list[str]: "a list of texts",
}


def explain(error: ValidationError, settings: type[BaseModel]) -> str:
    """One line for every refused setting in `error` (raised by `settings(...)`)."""
    fields = _fields_by_name(settings)
    said = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else ""
        field_name, field = fields.get(name, (name, None))
        variable = _variable(field_name, field, settings)
        value = _shown(field_name, field, problem.get("input"))
        said.append(f"{variable}={value!r} is not valid: {_expected(field, problem)}")
    return "; ".join(said)


def _fields_by_name(settings: type[BaseModel]) -> dict[str, tuple[str, FieldInfo]]:
    """Each field under its own name and under each of its aliases (an error's `loc`
    names the first alias of a field that has some)."""
    found: dict[str, tuple[str, FieldInfo]] = {}
    for name, field in settings.model_fields.items():
        found[name] = (name, field)
        for alias in _aliases(field):
            found[alias] = (name, field)
    return found


def _aliases(field: FieldInfo) -> list[str]:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    return [alias] if isinstance(alias, str) else []


def _variable(name: str, field: FieldInfo | None, settings: type[BaseModel]) -> str:
    """The environment variable (or .env line) the value came from: of a field with
    aliases (SLACK_BOT_TOKEN or REPLYLOOP_SLACK_BOT_TOKEN), the one that is set."""
    aliases = _aliases(field) if field is not None else []
    if not aliases:
        prefix = str(settings.model_config.get("env_prefix", ""))
        return f"{prefix}{name}".upper()
    present = {key.upper() for key in os.environ}
    return next((alias for alias in aliases if alias.upper() in present), aliases[0])


def _shown(name: str, field: FieldInfo | None, value: Any) -> Any:
    if field is not None and SecretStr in _types(field.annotation):
        return "***"
    if name.endswith("_url") and isinstance(value, str):
        return mask_url(value)
    return value


def _types(annotation: Any) -> list[Any]:
    """The types a (possibly optional or annotated) annotation allows."""
    if get_origin(annotation) in (Union, types.UnionType):
        return [t for arg in get_args(annotation) for t in _types(arg) if t is not type(None)]
    return [annotation]


def _expected(field: FieldInfo | None, problem: Any) -> str:
    """What is allowed: a validator's own words, else the field's type and bounds."""
    if problem["type"] == "value_error":
        return str(problem["msg"]).removeprefix("Value error, ")
    if field is None:
        return str(problem["msg"])
    kinds = [
        KINDS.get(kind) or getattr(kind, "__name__", str(kind)) for kind in _types(field.annotation)
    ]
    bounds = _bounds(field)
    return f"{' or '.join(kinds)}{' ' + bounds if bounds else ''} is expected"


def _bounds(field: FieldInfo) -> str:
    """
    >>> from pydantic import Field
    >>> _bounds(Field(1, ge=1, le=512))
    'from 1 to 512'
    >>> _bounds(Field(0.9, gt=0.0, le=1.0))
    '> 0 and <= 1'
    >>> _bounds(Field(0.5, ge=0.25))
    '>= 0.25'
    """
    low = high = ""
    for bound in field.metadata:
        if isinstance(bound, annotated_types.Ge):
            low = f">= {bound.ge:g}"
        elif isinstance(bound, annotated_types.Gt):
            low = f"> {bound.gt:g}"
        elif isinstance(bound, annotated_types.Le):
            high = f"<= {bound.le:g}"
        elif isinstance(bound, annotated_types.Lt):
            high = f"< {bound.lt:g}"
    if low.startswith(">=") and high.startswith("<="):
        return f"from {low[3:]} to {high[3:]}"
    return " and ".join(part for part in (low, high) if part)
