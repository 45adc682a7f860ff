"""CSV files the product writes for people to open in spreadsheets.

Text in them can come from outside (catalogue categories and titles end up in slice names,
run ids in headers), and a spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or
``@`` as a formula (``=cmd|' /C calc'!A0``), as it may one starting with a tab or a carriage
return. Following OWASP's CSV injection advice, such text cells get a leading single quote, so
they show as text; numbers (``-0.5`` in a float column) stay numbers. Every CSV the product
writes goes through :func:`write_csv`.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

#: First characters a spreadsheet may read as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: Any) -> Any:
    """``value`` with a ``'`` in front if it is text a spreadsheet would run; else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with its text cells and column names neutralised."""
    safe = frame.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):  # numbers and booleans stay
            safe[column] = safe[column].map(neutralise_cell)
    safe.columns = [neutralise_cell(str(column)) for column in safe.columns]
    return safe


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> str:
    """Write ``frame`` (without its index) as UTF-8 CSV with every text cell neutralised.

    Returns:
        The path written, as a string.
    """
    neutralise_frame(frame).to_csv(path, index=False, encoding="utf-8")
    return os.fspath(path)
