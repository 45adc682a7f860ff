"""CSV files the product writes neutralise formula cells (OWASP CSV injection)."""

import csv

import pandas as pd
import pytest

from samplegen.exports import neutralise_cell, write_csv


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Dairy", "Dairy"),
        ("a=b", "a=b"),
        ("", ""),
        (-0.5, -0.5),
        (None, None),
    ],
)
def test_cells(cell, written):
    assert neutralise_cell(cell) == written


def test_written_csv_keeps_numbers_and_neutralises_text(tmp_path):
    frame = pd.DataFrame(
        {
            "slice": ['category:=HYPERLINK("http://x")', "=cmd|' /C calc'!A0", "all"],
            "recommender": ["@ease", "+als", "-popularity"],
            "k": pd.array([20, None, 10], dtype="Int64"),
            "b_minus_a": [-0.5, 0.25, -1e-3],
            "=header": [True, False, True],
        }
    )
    path = write_csv(frame, tmp_path / "cmp.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["slice", "recommender", "k", "b_minus_a", "'=header"]
    assert [r[0] for r in rows[1:]] == [
        'category:=HYPERLINK("http://x")',
        "'=cmd|' /C calc'!A0",
        "all",
    ]
    assert [r[1] for r in rows[1:]] == ["'@ease", "'+als", "'-popularity"]
    assert [r[2] for r in rows[1:]] == ["20", "", "10"]
    assert [r[3] for r in rows[1:]] == ["-0.5", "0.25", "-0.001"]
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r[:2])
