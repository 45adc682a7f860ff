"""The report's recipe-search section: best-so-far curve, importance, and the page it renders."""

import base64
import json
import math
import re

import pandas as pd

from samplegen.evaluate.report import ReportData, write_report
from samplegen.evaluate.rows import METRIC_COLUMNS
from samplegen.evaluate.search import SearchFacts, best_so_far, param_importance

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAN = float("nan")


def _trials(rows: list[tuple]) -> pd.DataFrame:
    """``tuning_trials``-like rows from (trial, state, objective, feasible, params)."""
    return pd.DataFrame(
        [
            {"trial": t, "state": s, "objective": o, "feasible": f, "params": json.dumps(p)}
            for t, s, o, f, p in rows
        ]
    )


SEARCH = _trials(
    [
        (0, "complete", 0.10, True, {"generate.strategy": "densify", "w": 0.2}),
        (1, "pruned", None, None, {"generate.strategy": "mask", "w": 0.8}),
        (2, "complete", 0.50, False, {"generate.strategy": "mask", "w": 0.2}),  # infeasible
        (3, "complete", 0.30, True, {"generate.strategy": "mask", "w": 0.8}),
        (4, "failed", None, None, {"generate.strategy": "densify", "w": 0.2}),
        (5, "complete", 0.10, True, {"generate.strategy": "densify", "w": 0.8}),
    ]
)


def _same(actual, expected) -> bool:
    return all(
        (math.isnan(a) and math.isnan(e)) or a == e for a, e in zip(actual, expected, strict=True)
    )


def test_best_so_far_counts_only_feasible_finished_trials_in_order():
    curve = best_so_far(SEARCH.iloc[::-1])  # any row order
    assert curve["trial"].tolist() == [0, 1, 2, 3, 4, 5]
    assert _same(curve["objective"].tolist(), [0.10, NAN, NAN, 0.30, NAN, 0.10])
    assert _same(curve["best"].tolist(), [0.10, 0.10, 0.10, 0.30, 0.30, 0.30])
    late = best_so_far(SEARCH[SEARCH["trial"] >= 1])
    assert math.isnan(late["best"].iloc[0]) and late["best"].iloc[-1] == 0.30


def test_importance_is_the_share_of_variance_each_parameter_explains():
    # The objective follows the strategy alone (the infeasible trial counts too: it finished).
    rows = _trials(
        [
            (0, "complete", 0.1, True, {"s": "a", "w": 0.2}),
            (1, "complete", 0.1, True, {"s": "a", "w": 0.8}),
            (2, "complete", 0.3, False, {"s": "b", "w": 0.2}),
            (3, "complete", 0.3, True, {"s": "b", "w": 0.8}),
            (4, "failed", None, None, {"s": "a", "w": 0.5}),
        ]
    )
    assert param_importance(rows) == {"s": 1.0, "w": 0.0}
    shares = param_importance(SEARCH)
    assert list(shares)[0] == "generate.strategy" and math.isclose(sum(shares.values()), 1.0)
    assert param_importance(rows.iloc[:1]) == {}  # one finished trial: nothing to explain
    assert param_importance(rows.iloc[:2]) == {}  # no variation


def _page(tmp_path, search: SearchFacts | None) -> str:
    metrics = pd.DataFrame(columns=list(METRIC_COLUMNS))
    path = write_report(tmp_path, "recipe-run", metrics, {}, 20, ReportData(search=search))
    return path.read_text(encoding="utf-8")


def test_the_recipe_search_section_renders_curve_importance_and_provenance(tmp_path):
    facts = SearchFacts("tuned-1", "recipes/cold.yaml", 3, SEARCH, "ease NDCG@20 on cold")
    page = _page(tmp_path, facts)
    ids = re.findall(r'<section id="([\w-]+)">', page)
    assert ids[:2] == ["verdict", "recipe-search"]
    assert re.findall(r'<a href="#([\w-]+)">', page) == ids
    section = re.search(r'<section id="recipe-search">(.*?)</section>', page, re.S).group(1)
    assert "recipe chosen on valid (trial 3 of 6), scored once on test" in section
    assert "tuned-1" in section and "recipes/cold.yaml" in section
    png = re.search(
        r'id="plot-search"><img alt="[^"]*" src="data:image/png;base64,([^"]+)"', section
    )
    assert base64.b64decode(png.group(1)).startswith(PNG_SIGNATURE)
    assert re.search(r"<td>generate.strategy</td><td class=\"num\">0\.\d\d</td>", section)
    assert "4 finished trials" in section
    assert "recipe-search" not in _page(tmp_path / "plain", None)
