"""A trainer's config dataclass is also its command line (TRL's habit): every field with
`metadata={"help": ...}` becomes `--field-name`, typed and defaulted from the field. A field
whose metadata has a "min" refuses a smaller value on the command line, and one with
"choices" any other value, as argparse refuses any bad option: usage and one line, exit 2
(not a traceback from deep in a trainer)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TypeVar, get_type_hints

C = TypeVar("C")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_arguments(parser: argparse.ArgumentParser, config: type[Any]) -> None:
    """Add one option per documented field of the dataclass `config`."""
    hints = get_type_hints(config)
    group = parser.add_argument_group(f"{config.__name__} settings")
    for field in dataclasses.fields(config):
        help_text = field.metadata.get("help")
        if help_text is None:
            continue
        kind = hints[field.name]
        default = field.default
        if kind is bool:
            group.add_argument(
                _flag(field.name),
                action=argparse.BooleanOptionalAction,
                default=default,
                help=f"{help_text} (default: {default})",
            )
            continue
        if kind not in (int, float, str):
            raise TypeError(f"{config.__name__}.{field.name}: {kind} cannot be an option")
        group.add_argument(
            _flag(field.name),
            type=_at_least(kind, field.metadata["min"]) if "min" in field.metadata else kind,
            choices=field.metadata.get("choices"),
            default=default,
            help=f"{help_text} (default: {default})",
        )


def _at_least(kind: type[Any], least: float) -> Any:
    """argparse's `type=` for a number no smaller than `least`.

    >>> _at_least(int, 2)("1")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: 1 is too small: at least 2
    >>> _at_least(int, 2)("3")
    3
    """

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{value} is too small: at least {least}")
        return value

    return convert


def config_from_args(args: argparse.Namespace, config: type[C], **given: Any) -> C:
    """The dataclass built from the parsed options; `given` fills fields that have none."""
    values = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(config)  # type: ignore[arg-type]
        if field.metadata.get("help") is not None and hasattr(args, field.name)
    }
    return config(**{**values, **given})
