"""A single self-contained HTML page summarising a stage 4 evaluation run.

The page has no external CSS, JS or image files (plots are inline base64 PNGs), so it can be
attached to a ticket, opened offline or served from object storage as one file. It reads top
down in about a minute: the verdict (which variant wins on which slice, with CIs; for a run
scored by CTR classifiers, the ranking-models section of :mod:`~samplegen.evaluate.ranking`),
then the plots behind it (utility by slice, dose response, fidelity, privacy), what the
generator learned (a map of real and synthetic users, nearest real users, category shifts,
latent directions), then every metric row and the run summary.

This module gathers what the page shows (verdicts from :mod:`~samplegen.evaluate.verdicts`,
figures from :mod:`~samplegen.evaluate.plots`, tables of :mod:`~samplegen.evaluate.cells`)
and renders the jinja2 template ``templates/report.html.j2``, which holds the layout and the
prose.
"""

from __future__ import annotations

import base64
import functools
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from samplegen.evaluate import plots
from samplegen.evaluate.cells import NONE as _NONE
from samplegen.evaluate.cells import Cell, Table
from samplegen.evaluate.cells import fmt as _fmt
from samplegen.evaluate.cells import fmt_int as _fmt_int
from samplegen.evaluate.cells import fmt_or_dash as _fmt_or_dash
from samplegen.evaluate.cells import num as _num
from samplegen.evaluate.display import visible_controls
from samplegen.evaluate.ranking import ranking_context
from samplegen.evaluate.rows import (
    DIFF_VARIANT,
    DOSE_PREFIX,
    FIDELITY,
    ITEM_COLD_SLICES,
    ITEM_FIDELITY,
    METRIC_COLUMNS,
    PRIVACY,
    ndcg_at,
    numeric,
)
from samplegen.evaluate.search import SearchFacts, search_context
from samplegen.evaluate.sequences import HISTORY_SLICES, SHORT_HISTORY
from samplegen.evaluate.verdicts import (
    DEFAULT_MIN_USERS,
    HEADLINE_SLICES,
    Verdict,
    signed,
    summary_sentence,
)
from samplegen.evaluate.verdicts import verdicts as find_verdicts
from samplegen.registry import RECOMMENDERS

if TYPE_CHECKING:  # explain.py imports torch and the models; the page only reads its fields
    from samplegen.evaluate.ctr_curves import ScoreCurves
    from samplegen.evaluate.explain import Explanation

#: Template of the page, under ``samplegen/evaluate/templates``.
TEMPLATE = "report.html.j2"

#: Slices the strategies table compares runs on.
STRATEGY_SLICES = HEADLINE_SLICES

#: The cutoff of the sequences section (NDCG@10, as the sequence-augmentation literature
#: reports), when the run scored it; else the headline ``evaluate.k``.
SEQUENCE_K = 10
#: Slices of the sequences section: everyone, then each history length.
SEQUENCE_SLICES = ("all", *(name for name, _, _ in HISTORY_SLICES))

_NAV = (
    ("verdict", "Verdict"),
    ("recipe-search", "Recipe search"),
    ("ranking-models", "Ranking models"),
    ("strategies", "Strategies"),
    ("utility", "Utility by slice"),
    ("items-new", "Items new to the catalogue"),
    ("sequences", "Sequences"),
    ("dose-response", "Dose response"),
    ("fidelity", "Fidelity"),
    ("privacy", "Privacy"),
    ("explain", "What the generator learned"),
    ("all-metrics", "All metrics"),
    ("run-summary", "Summary"),
)


@dataclass
class ReportData:
    """Arrays behind the distribution plots (all optional: a plot without data is skipped).

    Attributes:
        popularity_real: Per-item interaction counts in the real records (any order).
        popularity_synthetic: The same for the synthetic records, same item indexing.
        basket_real: Record sizes (items per user) of the real records.
        basket_synthetic: Record sizes of the synthetic records.
        dcr_synthetic: Distance to the closest real training record, per synthetic record.
        dcr_holdout: The same for held-out real records (the privacy baseline).
        strategy: This run's strategy, the label of its column in the strategies table.
        other_runs: Metric rows of other evaluated runs (other strategies, baselines) by
            label, shown next to this run's in the strategies table.
        explanation: What the generator learned (user map, nearest real users, category
            shift, latent directions); ``None`` puts a note in place of each part.
        item_cold_facts: Users, interactions and new items of the item-cold slices; ``None``
            when they were not scored.
        search: The ``samplegen tune`` search a recipe run's recipe came from; ``None`` (no
            recipe-search section) for any other run.
        ctr_curves: ROC, precision-recall and reliability curves of a CTR run's classifiers
            by ``(classifier, variant)`` (:func:`~samplegen.evaluate.ctr.curves_of`); the
            ranking-models section draws them.
    """

    popularity_real: np.ndarray | None = None
    popularity_synthetic: np.ndarray | None = None
    basket_real: np.ndarray | None = None
    basket_synthetic: np.ndarray | None = None
    dcr_synthetic: np.ndarray | None = None
    dcr_holdout: np.ndarray | None = None
    strategy: str = "this run"
    other_runs: dict[str, pd.DataFrame] = field(default_factory=dict)
    explanation: Explanation | None = None
    item_cold_facts: dict[str, int] | None = None
    search: SearchFacts | None = None
    ctr_curves: dict[tuple[str, str], ScoreCurves] = field(default_factory=dict)


# --- formatting -------------------------------------------------------------------------------


def _escape(value: object) -> Markup:
    """Escape a value the template prints, quotes included, as :func:`html.escape` does.

    The template's ``finalize``: autoescape would escape with markupsafe (``'`` as ``&#39;``);
    this keeps the page's entities as they were (``&#x27;``). Markup (macro output) passes.
    Invisible controls (a right-to-left override in a category name) are shown as ``[U+202E]``
    (:func:`~samplegen.evaluate.display.visible_controls`).
    """
    if hasattr(value, "__html__"):
        return Markup(value)
    return Markup(html.escape(visible_controls(str(value)), quote=True))


@functools.cache
def _environment() -> jinja2.Environment:
    """The template environment: autoescape on, block lines leave no blank lines behind."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("samplegen.evaluate", "templates"),
        autoescape=True,
        finalize=_escape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


# --- what the page shows ----------------------------------------------------------------------


def _strategies_table(
    metrics: pd.DataFrame, data: ReportData | None, k: int, min_users: int
) -> Table | None:
    """NDCG@k difference vs real-only of this run next to other runs', on all and cold users.

    Runs evaluated on the same lakehouse share the test split and the real-only baseline, so
    their paired differences are directly comparable. ``None`` when there are no other runs.
    """
    if data is None or not data.other_runs:
        return None
    runs = {data.strategy: metrics, **data.other_runs}
    cells: dict[tuple[str, str], dict[str, Verdict]] = {}
    for label, frame in runs.items():
        for verdict in find_verdicts(frame, k, min_users):
            if verdict.slice in STRATEGY_SLICES:
                cells.setdefault((verdict.recommender, verdict.slice), {})[label] = verdict
    rows = [
        [
            Cell(recommender),
            Cell(slice_),
            *(
                Cell(by_run[label].diff_text, f"num {by_run[label].outcome}")
                if label in by_run
                else Cell("n/a")
                for label in runs
            ),
        ]
        for (recommender, slice_), by_run in cells.items()
    ]
    return Table("strategies-table", ["recommender", "slice", *runs], rows)


def _family_table(metrics: pd.DataFrame, family: str) -> Table | None:
    """The rows of one pseudo-recommender (fidelity, privacy, item fidelity), or ``None``."""
    rows = metrics[metrics["recommender"] == family]
    if rows.empty:
        return None
    cells = [
        [Cell(str(variant)), Cell(str(metric)), _num(_fmt(value))]
        for variant, metric, value in zip(
            rows["variant"], rows["metric"], rows["value"], strict=True
        )
    ]
    return Table(f"{family}-table", ["strategy", "metric", "value"], cells)


def _pair(data: ReportData | None, first: str, second: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Two arrays of ``data`` (finite entries), or ``None`` if either is missing or empty."""
    if data is None:
        return None
    a, b = plots.finite(getattr(data, first)), plots.finite(getattr(data, second))
    return None if a is None or b is None else (a, b)


def _figures(metrics: pd.DataFrame, data: ReportData | None, k: int) -> dict[str, bytes | None]:
    """Every figure of the page as PNG bytes, ``None`` where its data is absent."""
    ndcg = ndcg_at(metrics, k)
    points, use_ratio = plots.dose_points(metrics, k)
    popularity = _pair(data, "popularity_real", "popularity_synthetic")
    basket = _pair(data, "basket_real", "basket_synthetic")
    dcr = _pair(data, "dcr_synthetic", "dcr_holdout")
    explanation = None if data is None else data.explanation
    has_map = not (
        explanation is None or explanation.map_real is None or explanation.map_synthetic is None
    )
    return {
        "utility": plots.utility_png(ndcg, k),
        "diff": plots.diff_png(ndcg, k),
        "dose": None if points.empty else plots.dose_png(points, use_ratio, k),
        "popularity": None if popularity is None else plots.popularity_png(*popularity),
        "basket": None
        if basket is None
        else plots.hist_png(*basket, ("real", "synthetic"), "items per user", "Basket size"),
        "dcr": None
        if dcr is None
        else plots.hist_png(
            *dcr,
            ("synthetic", "holdout"),
            "distance to closest real training record",
            "Distance to closest record (DCR)",
        ),
        "user_map": plots.user_map_png(explanation.map_real, explanation.map_synthetic, explanation)
        if has_map and explanation is not None
        else None,
    }


def _neighbours_table(frame: pd.DataFrame) -> Table:
    """The nearest-real-user rows, most similar first."""
    rows = [
        [
            _num(_fmt_int(r.synthetic)),
            _num(_fmt_int(r.synthetic_items)),
            _num(_fmt_int(r.nearest_real) if int(r.nearest_real) >= 0 else _NONE),
            _num(_fmt_int(r.real_items)),
            _num(_fmt_int(r.shared_items)),
            _num(_fmt(r.jaccard)),
            _num(_fmt_int(r.new_items)),
        ]
        for r in frame.itertuples(index=False)
    ]
    header = (
        "synthetic user",
        "its items",
        "nearest real user",
        "its items",
        "shared items",
        "Jaccard",
        "items not in nearest",
    )
    return Table("neighbours-table", header, rows)


def _shift_table(frame: pd.DataFrame) -> Table:
    """Category shares, real vs synthetic, with the shift, the written share and the target."""
    rows = [
        [
            Cell(str(r.category)),
            _num(_fmt(r.real_share)),
            _num(_fmt(r.synthetic_share)),
            _num(signed(float(r.shift))),
            _num(_fmt_or_dash(r.written_share)),
            _num(_fmt_or_dash(r.target_share)),
        ]
        for r in frame.itertuples(index=False)
    ]
    header = ("category", "real share", "synthetic share", "shift", "written share", "target")
    return Table("category-shift-table", header, rows)


def _latent_table(frame: pd.DataFrame) -> Table:
    """One row per latent direction: its strength, its name and its top items."""
    rows = []
    for direction, group in frame.groupby("direction", sort=False):
        name = str(group["name"].iloc[0])
        named = int((group["category"] == name).sum())
        items = "; ".join(
            f"#{int(r.item)} {r.category} ({signed(float(r.logit_diff))})"
            for r in group.sort_values("rank").itertuples(index=False)
        )
        rows.append(
            [
                _num(_fmt_int(direction)),
                _num(_fmt(group["effect"].iloc[0])),
                Cell(f"{name} ({named} of {len(group)})"),
                Cell(items),
            ]
        )
    header = ("latent dimension", "effect", "named after", "top items (logit change)")
    return Table("latent-directions-table", header, rows)


def _explain_context(explanation: Explanation | None) -> dict[str, object]:
    """The explain section's tables and notes (the map is one of :func:`_figures`)."""
    if explanation is None:
        return {
            "neighbours": None,
            "category_shift": None,
            "latent": None,
            "other_targets": "",
            "explain_notes": {},
        }
    shift = explanation.category_shift
    return {
        "neighbours": None
        if explanation.neighbours is None
        else _neighbours_table(explanation.neighbours),
        "category_shift": None if shift is None else _shift_table(shift),
        "latent": None if explanation.latent is None else _latent_table(explanation.latent),
        "other_targets": ", ".join(f"{k} {v:.4f}" for k, v in explanation.other_targets.items()),
        "explain_notes": explanation.notes,
    }


def _item_cold_table(metrics: pd.DataFrame, k: int) -> Table | None:
    """Recall@k and NDCG@k of every recommender, baseline and difference on the item-cold slices.

    Rows are ordered by slice, then metric, then value (best first), so generated variants and
    the non-generative baselines read side by side; ``None`` when the slices were not scored.
    """
    rows = metrics[
        metrics["slice"].isin(ITEM_COLD_SLICES)
        & metrics["metric"].isin(["recall", "ndcg"])
        & (pd.to_numeric(metrics["k"], errors="coerce") == k)
    ]
    if rows.empty:
        return None
    rows = rows.assign(_v=pd.to_numeric(rows["value"], errors="coerce"))
    rows = rows.sort_values(["slice", "metric", "_v"], ascending=[False, True, False])
    cells = [
        [
            Cell(str(r.slice)),
            Cell(str(r.metric)),
            Cell(str(r.recommender)),
            Cell(str(r.variant)),
            _num(_fmt_int(r.seed)),
            _num(_fmt(r.value)),
            _num(f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]"),
            _num(_fmt_int(r.n_users)),
        ]
        for r in rows.itertuples()
    ]
    header = ["slice", "metric", "recommender", "variant", "seed", f"@{k}", "95% CI", "users"]
    return Table("items-new-table", header, cells)


def sequence_k(metrics: pd.DataFrame, k: int) -> int:
    """The cutoff of the sequences section: :data:`SEQUENCE_K` where it was scored, else ``k``."""
    return SEQUENCE_K if (numeric(metrics["k"]) == SEQUENCE_K).any() else k


def _sequence_verdicts(metrics: pd.DataFrame, k: int, min_users: int) -> list[Verdict]:
    """The verdicts of the sequential recommenders on ``all`` and the history-length slices."""
    found = find_verdicts(metrics, k, min_users)
    return [v for v in found if v.slice in SEQUENCE_SLICES and is_sequential(v.recommender)]


def _sequences_context(
    metrics: pd.DataFrame, data: ReportData | None, k: int, min_users: int
) -> dict[str, object]:
    """The sequences section: NDCG@K per history length, this run's and the other runs'.

    One row per run, sequential recommender and slice (means over seeds; the difference's
    CI spans its seeds' CIs), and this run's ``short_history`` verdict lines.
    """
    at = sequence_k(metrics, k)
    runs = {data.strategy if data else "this run": metrics, **(data.other_runs if data else {})}
    rows, lines = [], []
    for label, frame in runs.items():
        for v in _sequence_verdicts(frame, at, min_users):
            rows.append(
                [
                    Cell(label),
                    Cell(v.recommender),
                    Cell(v.slice),
                    _num(_fmt(v.real)),
                    _num(_fmt(v.augmented)),
                    Cell(v.diff_text, f"num {v.outcome}"),
                    _num(_fmt_int(v.n_users)),
                ]
            )
            if frame is metrics and v.slice == SHORT_HISTORY:
                lines.append(v)
    header = ["run", "recommender", "slice", "real", "augmented", "augmented - real [CI]", "users"]
    table = Table("sequences-table", header, rows) if rows else None
    return {"sequences": table, "sequence_k": at, "sequence_verdicts": lines}


def is_sequential(name: str) -> bool:
    """Whether ``name`` is a registered sequential (next-item) recommender."""
    spec = RECOMMENDERS.get(name)
    return spec is not None and spec.kind == "sequential"


def _metrics_table(metrics: pd.DataFrame) -> Table:
    """Every metric row; values and CIs to 4 decimals."""
    rows = []
    for record in metrics[list(METRIC_COLUMNS)].itertuples(index=False):
        (recommender, variant, slice_, metric, k, value, low, high, n_users, seed) = record
        rows.append(
            [
                Cell(str(recommender)),
                Cell(str(variant)),
                Cell(str(slice_)),
                Cell(str(metric)),
                _num(_fmt_int(k)),
                _num(_fmt(value)),
                _num(_fmt(low)),
                _num(_fmt(high)),
                _num(_fmt_int(n_users)),
                _num(_fmt_int(seed)),
            ]
        )
    return Table("metrics", METRIC_COLUMNS, rows, row_class="metric-row")


def render_report(
    run_id: str,
    metrics: pd.DataFrame,
    summary: dict[str, object],
    k: int,
    data: ReportData | None = None,
    min_users: int = DEFAULT_MIN_USERS,
) -> str:
    """The page's HTML (see :func:`write_report`)."""
    found = find_verdicts(metrics, k, min_users)
    warm = metrics[~metrics["slice"].isin(ITEM_COLD_SLICES)]  # the item-cold ones have a section
    search = search_context(data.search if data else None)
    ranking = ranking_context(metrics, data.ctr_curves if data else None, min_users)
    shown = {"recipe-search": bool(search["search"]), "ranking-models": bool(ranking["ranking"])}
    context = {
        "run_id": run_id,
        "k": k,
        "min_users": min_users,
        "nav": [item for item in _NAV if shown.get(item[0], True)],
        **search,
        **ranking,
        "diff_variant": DIFF_VARIANT,
        "dose_prefix": DOSE_PREFIX,
        "dose_title": plots.dose_title(warm, k),
        "verdicts": found,
        "verdict_summary": summary_sentence(found, k) if found else "",
        "strategies": _strategies_table(metrics, data, k, min_users),
        "plots": {
            name: None if png is None else base64.b64encode(png).decode("ascii")
            for name, png in _figures(warm, data, k).items()
        },
        "items_new": _item_cold_table(metrics, k),
        "items_new_facts": list((data.item_cold_facts or {}).items()) if data else [],
        **_sequences_context(metrics, data, k, min_users),
        "fidelity": _family_table(metrics, FIDELITY),
        "item_fidelity": _family_table(metrics, ITEM_FIDELITY),
        "privacy": _family_table(metrics, PRIVACY),
        **_explain_context(None if data is None else data.explanation),
        "metrics": _metrics_table(metrics),
        "summary": list(summary.items()),
    }
    return _environment().get_template(TEMPLATE).render(context)


def write_report(
    out_dir: Path,
    run_id: str,
    metrics: pd.DataFrame,
    summary: dict[str, object],
    k: int,
    data: ReportData | None = None,
    min_users: int = DEFAULT_MIN_USERS,
) -> Path:
    """Write ``out_dir/index.html`` for one evaluation run and return its path.

    The page holds, in order, each in a ``<section>`` with a stable id: the verdict (a summary
    of the comparisons with their Benjamini-Hochberg result, and each verdict line followed by
    its adjusted verdict; slices with fewer than ``min_users`` users with targets get none),
    the ranking models of a run scored by CTR classifiers (AUC verdict lines, every metric
    with its CI, difference bars, ROC / precision-recall / reliability curves; only when the
    metrics hold classifier rows), utility by slice (NDCG@k
    real vs augmented, and the paired difference, with CI bars), items new to the catalogue
    (the item-cold slices' table, baselines and generated variants side by side), dose
    response, fidelity (table, popularity curves, basket-size histograms), privacy (table, DCR
    histograms), what the generator learned (user map, nearest real users, category shift,
    latent directions), every metric row, and the run summary. Plots and tables whose data is
    absent are replaced by a note. All text is HTML-escaped and images are inline PNGs, so the
    file is viewable offline on its own.

    Args:
        out_dir: Directory to write into; created if missing.
        run_id: Identifier of the run, shown in the title.
        metrics: One row per metric value with columns
            :data:`~samplegen.evaluate.rows.METRIC_COLUMNS`.
        summary: Free-form run facts (row counts, timings, paths) shown as a key/value table.
        k: The headline cutoff of the verdict, utility and dose plots.
        data: Arrays behind the popularity, basket-size and DCR plots and the explanation;
            ``None`` skips them.
        min_users: ``evaluate.min_users``, for the verdicts.

    Returns:
        Path of the written ``index.html``.

    Raises:
        ValueError: If ``metrics`` lacks one of the metric columns.
    """
    missing = [c for c in METRIC_COLUMNS if c not in metrics.columns]
    if missing:
        raise ValueError(f"metrics is missing columns {missing}; expected {list(METRIC_COLUMNS)}")
    page = render_report(run_id, metrics, summary, k, data, min_users)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
