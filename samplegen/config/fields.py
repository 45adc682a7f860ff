"""The two field helpers of every config section, and the error a bad config raises."""

from __future__ import annotations

import copy
from dataclasses import field
from typing import Any


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the key."""


def setting(default: Any, help: str) -> Any:
    """A config field with its default and the one-line help the config reference prints."""
    if isinstance(default, list | dict):
        return field(default_factory=lambda: copy.deepcopy(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


def section(cls: type, help: str) -> Any:
    """A nested config section."""
    return field(default_factory=cls, metadata={"help": help})
