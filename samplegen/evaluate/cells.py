"""Tables of the stage 4 report: cells, tables and the number formats their cells use.

The report (:mod:`samplegen.evaluate.report`) and its sections that live in their own modules
(:mod:`samplegen.evaluate.ranking`) build :class:`Table` values; the template prints them,
escaping every text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from samplegen.evaluate.rows import is_missing

#: Shown in a table cell with no value (e.g. a category the strategy set no target for).
NONE = "\u2014"


class Cell(NamedTuple):
    """One table cell: its text (escaped by the template) and its CSS class, if any."""

    text: str
    cls: str = ""


@dataclass(frozen=True)
class Table:
    """A table of the page: its element id, header texts and rows of cells."""

    table_id: str
    header: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    row_class: str = ""


def fmt(value: object) -> str:
    """Format a number to 4 decimals; missing values become ``n/a``."""
    if is_missing(value):
        return "n/a"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    return "n/a" if math.isnan(number) else f"{number:.4f}"


def fmt_int(value: object) -> str:
    """Format a count without decimals; missing values become ``n/a``."""
    if is_missing(value):
        return "n/a"
    try:
        return str(int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return str(value)


def fmt_or_dash(value: object) -> str:
    """:func:`fmt`, but a dash for a missing value (it means "none", not "unknown")."""
    return NONE if is_missing(value) else fmt(value)


def num(text: str) -> Cell:
    """A right-aligned number cell."""
    return Cell(text, "num")
