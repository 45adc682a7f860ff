"""Statistical validity of the verdicts: too few users, bootstrap p-values, Benjamini-Hochberg."""

import math
import re

import numpy as np
import pandas as pd
import pytest

from samplegen.config import Config
from samplegen.evaluate.metrics import bootstrap_p_value, paired_bootstrap, paired_bootstrap_ci
from samplegen.evaluate.report import write_report
from samplegen.evaluate.rows import DIFF_VARIANT, METRIC_COLUMNS, p_value_metric
from samplegen.evaluate.stats import benjamini_hochberg
from samplegen.evaluate.verdicts import (
    DEFAULT_MIN_USERS,
    summary_sentence,
    verdict_lines,
    verdicts,
)

K = 20
NAN = float("nan")
P = p_value_metric("ndcg")


def _comparison(recommender, slice_, diff, low, high, n, p=None, seed=NAN):
    """A recommender x slice at NDCG@K: real, augmented, the difference and its p-value."""
    rows = [
        (recommender, "real", slice_, "ndcg", K, 0.3, 0.28, 0.32, n, seed),
        (recommender, "augmented", slice_, "ndcg", K, 0.3 + diff, 0.27, 0.35, n, seed),
        (recommender, DIFF_VARIANT, slice_, "ndcg", K, diff, low, high, n, seed),
    ]
    if p is not None:
        rows.append((recommender, DIFF_VARIANT, slice_, P, K, p, NAN, NAN, n, seed))
    return rows


def _frame(*comparisons) -> pd.DataFrame:
    return pd.DataFrame([r for c in comparisons for r in c], columns=list(METRIC_COLUMNS))


def _by_slice(found):
    return {(v.recommender, v.slice): v for v in found}


# --- too few users -------------------------------------------------------------------------------


def test_the_default_min_users_is_the_config_default():
    assert DEFAULT_MIN_USERS == Config().evaluate.min_users == 50


def test_a_slice_with_fewer_users_than_min_users_gets_no_verdict():
    # The case: six users, a zero-width CI above zero. Without the guard: "better".
    metrics = _frame(
        _comparison("ease", "all", 0.02, 0.01, 0.03, n=400, p=0.004),
        _comparison("ease", "cold", 0.05, 0.05, 0.05, n=6, p=0.002),
        _comparison("ease", "items_tail", -0.02, -0.03, -0.01, n=49, p=0.004),
        _comparison("ease", "activity_q4", -0.02, -0.03, -0.01, n=50, p=0.004),
    )
    found = _by_slice(verdicts(metrics, K, min_users=50))
    cold = found[("ease", "cold")]
    assert cold.too_few and cold.outcome == "undetermined" and cold.n_users == 6
    assert cold.line.endswith(": too few users (n=6; evaluate.min_users=50)")
    assert "better" not in cold.line and cold.bh_outcome == "undetermined"
    assert math.isnan(cold.q_value)  # kept out of the Benjamini-Hochberg family
    assert found[("ease", "items_tail")].too_few  # 49 < 50
    assert found[("ease", "activity_q4")].outcome == "worse"  # 50 is enough
    assert found[("ease", "all")].outcome == "better"
    # Without the guard the same rows give the verdicts the CIs alone would.
    assert _by_slice(verdicts(metrics, K, min_users=1))[("ease", "cold")].outcome == "better"


def test_too_few_users_reach_the_cli_lines_and_the_summary():
    metrics = _frame(
        _comparison("ease", "all", 0.02, 0.01, 0.03, n=400),
        _comparison("ease", "cold", 0.05, 0.05, 0.05, n=6),
    )
    lines = verdict_lines(metrics, K, min_users=50)
    assert lines[1].startswith("ease slice=cold NDCG@20 ")
    assert lines[1].endswith("too few users (n=6; evaluate.min_users=50)")
    sentence = summary_sentence(verdicts(metrics, K, 50), K)
    assert sentence.startswith(
        "Augmented data wins on 1 of 2 recommender x slice comparisons at NDCG@20, loses on 0, "
        "no significant difference on 0, too few users (under evaluate.min_users=50) on 1. "
        "Each CI is 95% on its own, so about 0.1 of 1 comparisons"
    )


def test_the_fewest_users_over_seeds_decide():
    metrics = _frame(
        _comparison("als", "cold", 0.02, 0.01, 0.03, n=80, seed=0),
        _comparison("als", "cold", 0.02, 0.01, 0.03, n=40, seed=1),
    )
    (verdict,) = verdicts(metrics, K, min_users=50)
    assert verdict.n_users == 40 and verdict.too_few


def test_the_report_gives_too_few_users_no_verdict(tmp_path):
    metrics = _frame(
        _comparison("ease", "all", 0.02, 0.01, 0.03, n=400, p=0.004),
        _comparison("ease", "cold", 0.05, 0.05, 0.05, n=6, p=0.002),
    )
    page = write_report(tmp_path, "r", metrics, {}, K, min_users=50).read_text("utf-8")
    section = re.search(r'<section id="verdict">(.*?)</section>', page, re.S).group(1)
    items = dict(
        (text.split(" NDCG")[0], (cls, text))
        for cls, text in re.findall(r'<li class="(\w+)">(.*?)</li>', section)
    )
    assert items["ease slice=cold"][0] == "undetermined"
    assert "too few users (n=6" in items["ease slice=cold"][1]
    assert "BH-adjusted" not in items["ease slice=cold"][1]
    assert items["ease slice=all"] == (
        "better",
        "ease slice=all NDCG@20 real=0.3000 augmented=0.3200 diff=+0.0200 [+0.0100, +0.0300]: "
        "augmented is better; BH-adjusted (q=0.004): augmented is better",
    )
    assert "too few users (under evaluate.min_users=50) on 1" in section
    assert "fewer than 50 users with targets gets no verdict" in section


# --- p-values and Benjamini-Hochberg -------------------------------------------------------------


def test_bootstrap_p_value_by_hand():
    # 9 means, 2 at or below zero, 8 at or above: p = 2 * min(3/10, 9/10) = 0.6.
    assert bootstrap_p_value(np.array([-1.0, 0, 1, 2, 3, 4, 5, 6, 7])) == pytest.approx(0.6)
    # All above zero: the +1 correction keeps p away from 0: 2 * 1/10.
    assert bootstrap_p_value(np.arange(1.0, 10.0)) == pytest.approx(0.2)
    assert bootstrap_p_value(-np.arange(1.0, 10.0)) == pytest.approx(0.2)
    assert bootstrap_p_value(np.zeros(9)) == 1.0
    assert math.isnan(bootstrap_p_value(np.array([])))


def test_paired_bootstrap_p_value_follows_the_ci():
    rng = np.random.default_rng(8)
    a = rng.random(400)
    shifted = paired_bootstrap(a, a + 0.01 + rng.normal(0.0, 0.005, 400), 300, seed=0)
    assert shifted.low > 0 and shifted.p_value == pytest.approx(2 / 301)
    assert paired_bootstrap(a, a.copy(), 300, seed=0).p_value == 1.0
    half = rng.normal(0.0, 0.05, 200)
    noise = paired_bootstrap(a, a + np.concatenate([half, -half]), 300, seed=0)  # mean diff 0
    assert noise.low < 0 < noise.high and noise.p_value > 0.5
    # The CI is the one paired_bootstrap_ci gives (same resamples).
    b = a + 0.02
    assert tuple(paired_bootstrap(a, b, 300, seed=1))[:3] == paired_bootstrap_ci(a, b, 300, seed=1)


def test_benjamini_hochberg_by_hand():
    # Sorted p: 0.001 0.012 0.014 0.04 0.6 (m = 5); p * m / rank: 0.005 0.03 0.02333 0.05 0.6;
    # the running minimum from the largest down: 0.005 0.02333 0.02333 0.05 0.6.
    p = np.array([0.04, 0.6, 0.012, NAN, 0.001, 0.014])
    expected = np.array([0.05, 0.6, 0.07 / 3, NAN, 0.005, 0.07 / 3])
    np.testing.assert_allclose(benjamini_hochberg(p), expected, equal_nan=True)
    assert np.isnan(benjamini_hochberg(np.array([NAN, NAN]))).all()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        benjamini_hochberg(np.array([0.5, 1.5]))


def test_verdicts_are_adjusted_over_the_tested_comparisons():
    # Four tested comparisons: m = 4. Sorted p 0.002 0.03 0.04 0.5 -> p * 4 / rank: 0.008 0.06
    # 0.0533 0.5 -> q: 0.008 0.0533 0.0533 0.5. The too-few slice (p 0.001) is not in the family.
    metrics = _frame(
        _comparison("ease", "all", 0.02, 0.01, 0.03, n=400, p=0.002),
        _comparison("ease", "cold", 0.02, 0.001, 0.04, n=100, p=0.03),
        _comparison("ease", "items_tail", -0.02, -0.04, -0.001, n=100, p=0.04),
        _comparison("ease", "activity_q4", 0.0, -0.01, 0.01, n=100, p=0.5),
        _comparison("ease", "activity_q2", 0.05, 0.04, 0.06, n=10, p=0.001),
    )
    found = _by_slice(verdicts(metrics, K, min_users=50))
    q = {s: found[("ease", s)].q_value for _, s in found}
    assert q["all"] == pytest.approx(0.008)
    assert q["cold"] == pytest.approx(0.16 / 3) and q["items_tail"] == pytest.approx(0.16 / 3)
    assert q["activity_q4"] == pytest.approx(0.5) and math.isnan(q["activity_q2"])
    outcomes = {s: (v.outcome, v.bh_outcome) for (_, s), v in found.items()}
    assert outcomes == {
        "all": ("better", "better"),
        "cold": ("better", "same"),
        "items_tail": ("worse", "same"),
        "activity_q4": ("same", "same"),
        "activity_q2": ("undetermined", "undetermined"),
    }
    assert found[("ease", "cold")].adjusted_line.endswith(
        "augmented is better; BH-adjusted (q=0.053): no significant difference"
    )
    sentence = summary_sentence(list(found.values()), K)
    assert sentence.endswith(
        "After the Benjamini-Hochberg adjustment of their 4 bootstrap p-values (false discovery "
        "rate 5%), augmented data wins on 1 and loses on 0."
    )


def test_a_comparison_over_seeds_takes_the_largest_p_value():
    metrics = _frame(
        _comparison("als", "all", 0.02, 0.01, 0.03, n=400, p=0.004, seed=0),
        _comparison("als", "all", 0.02, 0.01, 0.03, n=400, p=0.02, seed=1),
    )
    (verdict,) = verdicts(metrics, K)
    assert verdict.p_value == pytest.approx(0.02) and verdict.q_value == pytest.approx(0.02)
    assert verdict.bh_outcome == "better"


def test_without_p_value_rows_the_lines_and_summary_are_as_before():
    metrics = _frame(_comparison("ease", "all", 0.02, 0.01, 0.03, n=400))
    (verdict,) = verdicts(metrics, K)
    assert math.isnan(verdict.p_value) and verdict.bh_words == "BH-adjusted: n/a (no p-value)"
    assert "Benjamini" not in summary_sentence([verdict], K)
