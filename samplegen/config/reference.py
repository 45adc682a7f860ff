"""The README's config reference, generated from the sections."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

from samplegen.config.sections import Config


def _type_name(hint: Any) -> str:
    """``int``, ``list[int]``, ``int or null``: a type as the reference prints it."""
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(hint))
    return getattr(hint, "__name__", str(hint)) if typing.get_origin(hint) is None else str(hint)


def config_reference() -> str:
    """Markdown table of every config key with its type, default and help (for the README)."""
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        defaults = cls()
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            if dataclasses.is_dataclass(hint):
                walk(hint, prefix + f.name + ".")
                continue
            default = json.dumps(getattr(defaults, f.name))
            lines.append(
                f"| `{prefix}{f.name}` | {_type_name(hint)} | `{default}` | {f.metadata['help']} |"
            )

    walk(Config, "")
    return "\n".join(lines) + "\n"
