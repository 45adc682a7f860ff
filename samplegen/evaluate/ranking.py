"""The report's "Ranking models" section, for a run scored by CTR classifiers (issue 22).

A run of a strategy that writes ``synthetic_ctr`` is scored by the click/purchase classifiers
of ``evaluate.ctr_models`` (:mod:`samplegen.evaluate.ctr`), not by recommenders, so the
NDCG sections of the page have nothing to show for it. This section shows what it has: the
AUC verdict lines (augmented against real rows alone and against each non-generative
baseline), a table of every metric per classifier x slice x variant with its 95% CI (the dose
sweep's variants as differences to real, each slice's share of positive test rows), the paired
AUC differences by slice as bars, and, from the per-row scores stage 4 summarised into
:class:`~samplegen.evaluate.ctr_curves.ScoreCurves`, ROC, precision-recall and reliability
curves of the real and augmented variants on every test row.

Everything but the curves is read from the metric rows, so the section needs only
``eval_metrics`` rows of registered classifiers to appear.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

from samplegen.evaluate import plots
from samplegen.evaluate.cells import NONE, Cell, Table, fmt, fmt_int, num
from samplegen.evaluate.ctr import BASELINES, VARIANTS, ctr_verdicts, diff_variant
from samplegen.evaluate.ctr_metrics import CTR_METRICS
from samplegen.evaluate.ctr_slices import CTR_SLICES, LABEL_SHARE
from samplegen.evaluate.rows import DOSE_PREFIX, is_missing, numeric, p_value_metric, rows_of
from samplegen.evaluate.verdicts import seed_outcome, signed
from samplegen.registry import RECOMMENDERS

if TYPE_CHECKING:
    from samplegen.evaluate.ctr_curves import ScoreCurves

#: Column titles of the metrics of :data:`~samplegen.evaluate.ctr_metrics.CTR_METRICS`.
METRIC_TITLES = {"auc": "AUC", "pr_auc": "PR-AUC", "logloss": "log loss", "ece": "ECE"}
#: Metrics where a lower value is better: a difference above zero means augmented is worse.
LOWER_IS_BETTER = frozenset({"logloss", "ece"})
#: The paired differences, in the order of the table and the bars, with their legend labels.
DIFF_LABELS = {diff_variant(b): f"augmented - {b}" for b in BASELINES}
#: The metric of the difference bars (the verdicts' metric).
BARS_METRIC = "auc"


def is_classifier(name: object) -> bool:
    """Whether ``name`` is a registered CTR classifier (``kind="classifier"``)."""
    spec = RECOMMENDERS.get(str(name))
    return spec is not None and spec.kind == "classifier"


def classifier_rows(metrics: pd.DataFrame) -> pd.DataFrame:
    """The metric rows of CTR classifiers (empty for a run scored by recommenders)."""
    return metrics[metrics["recommender"].map(is_classifier).astype(bool)]


def _order(values: pd.Series, known: tuple[str, ...]) -> list[str]:
    """Distinct ``values``, the ``known`` ones first in that order, then the rest as they come."""
    seen = [str(v) for v in plots.ordered_unique(values)]
    return [v for v in known if v in seen] + [v for v in seen if v not in known]


def _outcome(metric: str, low: float, high: float) -> str:
    """Whether a difference's CI says augmented is better or worse on ``metric``."""
    outcome = seed_outcome(low, high)
    if metric in LOWER_IS_BETTER and outcome in ("better", "worse"):
        return "worse" if outcome == "better" else "better"
    return outcome


def _float(value: object) -> float:
    """A cell of a metric row as a float; missing (``None``, NaN) becomes NaN."""
    return math.nan if is_missing(value) else float(value)  # type: ignore[arg-type]


def _metric_cell(row: pd.Series | None, metric: str, is_diff: bool, min_users: int) -> Cell:
    """``value [low, high]``; a difference is signed and coloured by its CI when enough users."""
    if row is None:
        return num(NONE)
    text = signed if is_diff else fmt
    value, low, high = (_float(row[c]) for c in ("value", "ci_low", "ci_high"))
    shown = f"{text(value)} [{text(low)}, {text(high)}]" if not math.isnan(low) else text(value)
    users = row["n_users"]
    if not is_diff or is_missing(users) or int(users) < min_users:
        return num(shown)
    outcome = _outcome(metric, low, high)
    return Cell(shown, f"num {outcome}" if outcome in ("better", "worse") else "num")


def ranking_table(rows: pd.DataFrame, min_users: int) -> Table:
    """Every metric of every classifier x slice x variant with its 95% CI, one row per variant.

    Variants are the trained ones (:data:`~samplegen.evaluate.ctr.VARIANTS`), then the paired
    differences (:data:`DIFF_LABELS`) with the two-sided bootstrap p-value of the AUC
    difference, then the doses of the dose sweep (``dose=<ratio> - real``: differences too).
    A difference whose CI excludes zero is green when augmented (the dose) is better (higher
    AUC and PR-AUC, lower log loss and ECE) and red when worse, on slices with at least
    ``min_users`` users. With ``label_share`` rows a column shows each slice's share of
    positive test rows.
    """
    metrics = [m for m in CTR_METRICS if (rows["metric"] == m).any()]
    by_key = {
        (r["recommender"], r["slice"], r["variant"], r["metric"]): r for _, r in rows.iterrows()
    }
    shares = rows[rows["metric"] == LABEL_SHARE]
    share = {(r["recommender"], r["slice"]): r["value"] for _, r in shares.iterrows()}
    cells = []
    for classifier in _order(rows["recommender"], ()):
        mine = rows[rows["recommender"] == classifier]
        for slice_ in _order(mine["slice"], CTR_SLICES):
            here = mine[mine["slice"] == slice_]
            for variant in _order(here["variant"], (*VARIANTS, *DIFF_LABELS)):
                found = [by_key.get((classifier, slice_, variant, m)) for m in metrics]
                if all(f is None for f in found):
                    continue  # a variant with p-value rows only
                is_dose = variant.startswith(DOSE_PREFIX)
                is_diff = variant in DIFF_LABELS or is_dose
                first = next(f for f in found if f is not None)
                p_value = by_key.get((classifier, slice_, variant, p_value_metric("auc")))
                label = f"{variant} - real" if is_dose else DIFF_LABELS.get(variant, variant)
                positive = share.get((classifier, slice_))
                cells.append(
                    [
                        Cell(classifier),
                        Cell(slice_),
                        Cell(label),
                        num(fmt_int(first["n_users"])),
                        *([num(fmt(positive) if positive is not None else NONE)] if share else []),
                        *(
                            _metric_cell(f, m, is_diff, min_users)
                            for f, m in zip(found, metrics, strict=True)
                        ),
                        num(NONE if p_value is None else fmt(p_value["value"])),
                    ]
                )
    header = [
        "classifier",
        "slice",
        "variant",
        "users",
        *(["positive share"] if share else []),
        *(f"{METRIC_TITLES.get(m, m)} [95% CI]" for m in metrics),
        "p (AUC diff)",
    ]
    return Table("ranking-table", header, cells)


def _values(rows: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    """AUC and PR-AUC of each classifier and variant on the ``all`` slice (curve legends)."""
    at = rows[(rows["slice"] == "all") & rows["metric"].isin(["auc", "pr_auc"])]
    return {
        (str(r.recommender), str(r.variant), str(r.metric)): float(v)
        for r, v in zip(at.itertuples(), numeric(at["value"]), strict=True)
    }


def _b64(png: bytes | None) -> str | None:
    """A figure for an inline ``data:`` URL, or ``None``."""
    return None if png is None else base64.b64encode(png).decode("ascii")


def ranking_context(
    metrics: pd.DataFrame,
    curves: Mapping[tuple[str, str], ScoreCurves] | None,
    min_users: int,
) -> dict[str, object]:
    """The section's template values: ``{"ranking": None}`` without classifier rows.

    Otherwise ``ranking`` holds ``verdicts`` (:class:`~samplegen.evaluate.ctr.CtrVerdict`),
    ``table`` (:func:`ranking_table`) and ``plots`` (base64 PNGs, ``None`` where the data is
    absent: ``diff`` from the rows, ``roc_pr`` and ``calibration`` from ``curves``).
    """
    rows = classifier_rows(metrics)
    if rows.empty:
        return {"ranking": None}
    curves = curves or {}
    bars = rows[rows["metric"] == BARS_METRIC]
    return {
        "ranking": {
            "verdicts": ctr_verdicts(rows_of(rows), min_users),
            "table": ranking_table(rows, min_users),
            "plots": {
                "diff": _b64(plots.diff_bars_png(bars, DIFF_LABELS, "AUC difference")),
                "roc_pr": _b64(plots.roc_pr_png(curves, _values(rows))),
                "calibration": _b64(plots.calibration_png(curves)),
            },
        }
    }
