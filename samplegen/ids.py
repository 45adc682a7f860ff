"""Identifiers users give (run ids, experiment names) and the paths built from them.

One pattern, checked where the identifier comes in (CLI arguments, config keys, notebook
widgets), before any Spark session starts::

    [A-Za-z0-9][A-Za-z0-9._-]{0,127}   and no ".." anywhere

So an identifier is one plain path segment: it cannot climb out of a folder (``..``, ``/``),
be absolute, hide a quote, a space, a control or right-to-left character, or be empty. The
paths built from identifiers (``<models_root>/<model>/<run_id>``, ``<reports_root>/<run_id>``)
are checked again by :func:`path_under`, which refuses any that would leave their root.

MLflow experiment names are the one exception: on Databricks they are workspace paths such as
``/Users/alice@example.com/samplegen``, so :func:`check_experiment_name` accepts ``/``-separated
segments of the same pattern, where a segment may also hold ``@`` and ``+`` (e-mail user
names). MLflow, not samplegen, turns them into locations.

This module imports nothing from samplegen, so the config, the CLI and the stores can all use it.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import PurePosixPath

#: The documented identifier pattern (also in the README's "Identifiers and secrets").
IDENTIFIER_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_EXPERIMENT_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # s3://, abfss://, dbfs:/ (not C:\ drives)
_SHOWN = 60  # characters of a refused value the message shows


class IdentifierError(ValueError):
    """An identifier or a path built from one is refused; the message names the argument."""


def _shown(value: object) -> str:
    """``repr`` of a refused value, cut short: escapes quotes, control and bidi characters."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def is_identifier(value: object) -> bool:
    """Whether ``value`` is a string matching :data:`IDENTIFIER_PATTERN` with no ``..``."""
    return isinstance(value, str) and _IDENTIFIER.fullmatch(value) is not None and ".." not in value


def check_identifier(value: object, name: str) -> str:
    """Return ``value`` if it is an identifier, else raise naming ``name`` (e.g. ``--run-id``).

    Raises:
        IdentifierError: one line: the argument, the value (escaped, cut short) and the rule.
    """
    if is_identifier(value):
        return value  # type: ignore[return-value]
    raise IdentifierError(
        f"{name} {_shown(value)} is not a valid identifier: use 1 to 128 characters from "
        f"A-Z a-z 0-9 . _ -, starting with a letter or digit, without '..'"
    )


def check_experiment_name(value: object, name: str) -> str:
    """Return an MLflow experiment name: an identifier, or a ``/``-separated workspace path.

    Raises:
        IdentifierError: naming ``name`` when a segment breaks the rule or the name is too long.
    """
    segments = value.split("/") if isinstance(value, str) else [None]
    if isinstance(value, str) and value.startswith("/"):
        segments = segments[1:]  # a Databricks workspace path is absolute
    ok = (
        isinstance(value, str)
        and len(value) <= 512
        and ".." not in value
        and all(s is not None and _EXPERIMENT_SEGMENT.fullmatch(s) for s in segments)
    )
    if ok:
        return value  # type: ignore[return-value]
    raise IdentifierError(
        f"{name} {_shown(value)} is not a valid experiment name: use a name of A-Z a-z 0-9 "
        ". _ - (or a workspace path such as /Users/you@example.com/samplegen), without '..'"
    )


def path_under(root: str | os.PathLike[str], *parts: str, name: str = "path") -> str:
    """``root/part/...`` if it stays inside ``root``, else raise naming ``name``.

    The check is lexical (``..`` and absolute parts resolved, symlinks not followed), so it
    works before anything exists and for URIs (``s3://bucket/x``, ``dbfs:/x``) alike; the root
    itself is not a valid result, so an empty part is refused too.

    Raises:
        IdentifierError: when the joined path is the root itself or lies outside it.
    """
    root_text = os.fspath(root)
    if _URI.match(root_text):
        scheme, rest = root_text.split(":", 1)
        lead = "//" if rest.startswith("//") else ""
        base = posixpath.normpath("/" + rest[len(lead) :].lstrip("/"))
        joined = posixpath.normpath(posixpath.join(base, *parts))
        inside = joined.startswith(base.rstrip("/") + "/")
        result = f"{scheme}:{lead}{joined.lstrip('/') if lead else joined}"
    else:
        base = os.path.abspath(root_text)
        joined = os.path.abspath(os.path.join(base, *parts))
        inside = joined.startswith(base.rstrip(os.sep) + os.sep)
        result = os.path.join(root_text, *parts)
    if not inside or any(not part for part in parts):
        raise IdentifierError(
            f"{name}: {_shown(str(PurePosixPath(*parts)) if parts else '')} does not stay inside "
            f"its root {root_text!r}"
        )
    return result
