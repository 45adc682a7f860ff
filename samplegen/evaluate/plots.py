"""Every figure of the stage 4 report, drawn to PNG bytes.

Figures are drawn on a matplotlib Agg canvas directly, never through pyplot, so no global
backend is switched and no figure is left open. Each ``*_png`` function takes the rows or
arrays behind one figure and returns the PNG; the page (:mod:`samplegen.evaluate.report`)
decides where it goes and what the caption says.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from samplegen.evaluate.display import plot_label
from samplegen.evaluate.rows import (
    DIFF_VARIANT,
    DOSE_PREFIX,
    DOSE_RATIO_METRIC,
    is_missing,
    ndcg_at,
    numeric,
)
from samplegen.evaluate.verdicts import seed_outcome

if TYPE_CHECKING:  # explain.py imports torch and the models; the map only reads its fields
    from samplegen.evaluate.ctr_curves import ScoreCurves
    from samplegen.evaluate.explain import Explanation

#: Resolution of every figure; keeps the page around 1 MB with many slices and recommenders.
DPI = 90

_REAL_COLOR = "#4c72b0"
_SYNTHETIC_COLOR = "#dd8452"
_AUG_COLOR = _SYNTHETIC_COLOR
_OUTCOME_COLOR = {"better": "#1a7f37", "worse": "#cf222e"}
_NEUTRAL_COLOR = "#6e7781"


def ordered_unique(values: Iterable[object]) -> list[object]:
    """Distinct values in first-seen order, so the figures follow the frame's order."""
    return list(dict.fromkeys(values))


def _all_first(values: Iterable[object]) -> list[object]:
    """Distinct values in first-seen order, with the ``all`` slice moved to the front."""
    return sorted(ordered_unique(values), key=lambda value: value != "all")


def _label(value: object) -> str:
    """Text for a plot label: short, controls visible, ``$`` escaped (see :mod:`.display`)."""
    return plot_label(value)


def _png(fig: Figure) -> bytes:
    """The figure as PNG bytes at :data:`DPI`."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _new_figure(width: float, height: float) -> Figure:
    """A figure bound to its own Agg canvas (no pyplot state), laid out automatically."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _nonneg(value: float) -> float:
    """An error-bar length: NaN (no CI) and negative (inconsistent CI) become zero."""
    return 0.0 if math.isnan(value) or value < 0 else value


def _slice_figure(n_recommenders: int, n_slices: int) -> Figure:
    """A figure sized for one slice-by-slice panel per recommender, four to a row."""
    return _new_figure(
        3.4 * min(n_recommenders, 4) + 1.2,
        (0.32 * n_slices + 1.3) * math.ceil(n_recommenders / 4),
    )


def _panels(fig: Figure, n: int, per_row: int = 4, sharey: bool = True) -> list[Axes]:
    """``n`` subplots, ``per_row`` to a row, sharing the y axis."""
    cols = min(n, per_row)
    rows = math.ceil(n / cols)
    axes = fig.subplots(rows, cols, sharey=sharey, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return list(axes[:n])


# --- utility by slice -------------------------------------------------------------------------


def _slice_stats(rows: pd.DataFrame, slices: Sequence[object]) -> np.ndarray:
    """Per slice: mean value over seeds, lowest CI bound, highest CI bound (NaN if absent)."""
    stats = np.full((len(slices), 3), np.nan)
    for i, slice_ in enumerate(slices):
        at = rows[rows["slice"] == slice_]
        if at.empty:
            continue
        values = numeric(at["value"])
        lows, highs = numeric(at["ci_low"]), numeric(at["ci_high"])
        stats[i] = [values.mean(), lows.min(), highs.max()]
    return stats


def _bar_errors(stats: np.ndarray) -> np.ndarray:
    """Asymmetric error-bar lengths (2 x n) from :func:`_slice_stats` rows."""
    lower = [_nonneg(v - lo) for v, lo, _ in stats]
    upper = [_nonneg(hi - v) for v, _, hi in stats]
    return np.array([lower, upper])


def utility_png(ndcg: pd.DataFrame, k: int) -> bytes | None:
    """Horizontal bars of NDCG@k by slice, real vs augmented, one panel per recommender."""
    data = ndcg[ndcg["variant"].isin(["real", "augmented"])]
    if data.empty:
        return None
    recommenders = ordered_unique(data["recommender"])
    slices = _all_first(data["slice"])
    y = np.arange(len(slices), dtype=np.float64)
    fig = _slice_figure(len(recommenders), len(slices))
    for ax, recommender in zip(_panels(fig, len(recommenders)), recommenders, strict=True):
        rows = data[data["recommender"] == recommender]
        for i, (variant, color) in enumerate((("real", _REAL_COLOR), ("augmented", _AUG_COLOR))):
            stats = _slice_stats(rows[rows["variant"] == variant], slices)
            ax.barh(
                y + (i - 0.5) * 0.4,
                np.nan_to_num(stats[:, 0]),
                0.4,
                xerr=_bar_errors(stats),
                capsize=2,
                color=color,
                label=variant,
                error_kw={"elinewidth": 0.8},
            )
        ax.set_title(_label(recommender))
        ax.set_xlabel(f"NDCG@{k}")
        ax.set_yticks(y, [_label(s) for s in slices])
        ax.set_ylim(len(slices) - 0.5, -0.5)
        ax.grid(axis="x", alpha=0.3)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper right", ncols=2, fontsize="small")
    return _png(fig)


def diff_png(ndcg: pd.DataFrame, k: int) -> bytes | None:
    """The paired difference by slice with CI bars and a zero line; one point per seed."""
    data = ndcg[ndcg["variant"] == DIFF_VARIANT]
    if data.empty:
        return None
    recommenders = ordered_unique(data["recommender"])
    slices = _all_first(data["slice"])
    position = {s: i for i, s in enumerate(slices)}
    fig = _slice_figure(len(recommenders), len(slices))
    for ax, recommender in zip(_panels(fig, len(recommenders)), recommenders, strict=True):
        rows = data[data["recommender"] == recommender]
        keys = [None if is_missing(seed) else seed for seed in rows["seed"]]
        seeds = ordered_unique(keys)
        for j, seed in enumerate(seeds):
            at = rows[[key == seed for key in keys]]
            offset = (j - (len(seeds) - 1) / 2) * min(0.6 / len(seeds), 0.2)
            for slice_, value, low, high in zip(
                at["slice"],
                numeric(at["value"]),
                numeric(at["ci_low"]),
                numeric(at["ci_high"]),
                strict=True,
            ):
                color = _OUTCOME_COLOR.get(seed_outcome(low, high), _NEUTRAL_COLOR)
                ax.errorbar(
                    value,
                    position[slice_] + offset,
                    xerr=[[_nonneg(value - low)], [_nonneg(high - value)]],
                    fmt="o",
                    markersize=4,
                    capsize=2,
                    color=color,
                )
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_title(_label(recommender))
        ax.set_xlabel(f"NDCG@{k} augmented - real")
        ax.set_yticks(np.arange(len(slices)), [_label(s) for s in slices])
        ax.set_ylim(len(slices) - 0.5, -0.5)
        ax.grid(axis="x", alpha=0.3)
    return _png(fig)


# --- dose response ----------------------------------------------------------------------------


def _dose_number(variant: object) -> float:
    """The ratio in a ``dose=<r>`` variant name, or NaN."""
    try:
        return float(str(variant)[len(DOSE_PREFIX) :])
    except ValueError:
        return math.nan


#: The metric of the dose plot of a run scored by CTR classifiers (which has no NDCG rows).
DOSE_CTR_METRIC = "auc"


def _dose_drawn(metrics: pd.DataFrame, k: int) -> tuple[pd.DataFrame, str, str]:
    """The dose rows the plot draws, their metric's title and what the ratio counts.

    NDCG@k rows of recommenders, or else (a run scored by CTR classifiers) the AUC rows of
    the ``all`` slice, one line per classifier.
    """
    dose = metrics[metrics["variant"].astype(str).str.startswith(DOSE_PREFIX)]
    ndcg = ndcg_at(dose, k)
    if not ndcg.empty:
        return ndcg, f"NDCG@{k}", "interactions"
    auc = dose[(dose["metric"] == DOSE_CTR_METRIC) & (dose["slice"] == "all")]
    return auc, "AUC", "train rows"


def dose_title(metrics: pd.DataFrame, k: int) -> str:
    """The metric the dose plot of ``metrics`` draws: ``NDCG@<k>``, or ``AUC`` for classifiers."""
    return _dose_drawn(metrics, k)[1]


def dose_points(metrics: pd.DataFrame, k: int) -> tuple[pd.DataFrame, bool]:
    """Dose-sweep differences with their x position, and whether x is a ratio.

    The differences are NDCG@k's, or for a run scored by CTR classifiers AUC's on all test
    rows (:func:`_dose_drawn`; the frame's ``title`` and ``unit`` columns say which). x is the
    measured synthetic-to-real ratio when every dose has one, else the dose number. Seeds are
    averaged (value) and their CIs spanned (lowest low, highest high).
    """
    dose = metrics[metrics["variant"].astype(str).str.startswith(DOSE_PREFIX)]
    ndcg, title, unit = _dose_drawn(metrics, k)
    if ndcg.empty:
        return pd.DataFrame(), False
    ratios = dose[dose["metric"] == DOSE_RATIO_METRIC]
    points = []
    for (recommender, variant), rows in ndcg.groupby(["recommender", "variant"], sort=False):
        ratio = numeric(ratios.loc[ratios["variant"] == variant, "value"]).dropna()
        points.append(
            {
                "recommender": recommender,
                "dose": _dose_number(variant),
                "ratio": float(ratio.mean()) if len(ratio) else math.nan,
                "value": float(numeric(rows["value"]).mean()),
                "low": float(numeric(rows["ci_low"]).min()),
                "high": float(numeric(rows["ci_high"]).max()),
            }
        )
    frame = pd.DataFrame(points).assign(title=title, unit=unit)
    use_ratio = bool(frame["ratio"].notna().all())
    frame["x"] = frame["ratio"] if use_ratio else frame["dose"]
    return frame.dropna(subset=["x", "value"]).sort_values(["recommender", "x"]), use_ratio


def dose_png(points: pd.DataFrame, use_ratio: bool, k: int) -> bytes:
    """NDCG (AUC) difference vs dose: a line per recommender with CI bars and band, zero line.

    The metric's title and the ratio's unit come from ``points`` (:func:`dose_points`).
    """
    fig = _new_figure(6.5, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    for recommender, rows in points.groupby("recommender", sort=False):
        x, value = rows["x"].to_numpy(), rows["value"].to_numpy()
        low, high = rows["low"].to_numpy(), rows["high"].to_numpy()
        errors = np.array(
            [
                [_nonneg(v - lo) for v, lo in zip(value, low, strict=True)],
                [_nonneg(hi - v) for v, hi in zip(value, high, strict=True)],
            ]
        )
        line = ax.errorbar(x, value, yerr=errors, fmt="o-", capsize=3, label=_label(recommender))
        if not (np.isnan(low).any() or np.isnan(high).any()):
            ax.fill_between(x, low, high, alpha=0.15, color=line[0].get_color())
    ax.axhline(0.0, color="black", linewidth=0.8)
    title = points["title"].iloc[0] if "title" in points else f"NDCG@{k}"
    unit = points["unit"].iloc[0] if "unit" in points else "interactions"
    ax.set_xlabel(f"synthetic / real {unit}" if use_ratio else "dose (synthetic ratio)")
    ax.set_ylabel(f"{title} augmented - real")
    ax.set_title("Dose response")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", title="classifier" if unit == "train rows" else "recommender")
    return _png(fig)


# --- fidelity and privacy ---------------------------------------------------------------------


def finite(values: np.ndarray | None) -> np.ndarray | None:
    """The finite entries of ``values`` as floats, or ``None`` if there are none."""
    if values is None:
        return None
    array = np.asarray(values, dtype=np.float64).ravel()
    array = array[np.isfinite(array)]
    return array if array.size else None


def popularity_png(real: np.ndarray, synthetic: np.ndarray) -> bytes:
    """Item popularity curves: share of interactions by item rank, log-log."""
    fig = _new_figure(6.0, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    for label, counts, color in (
        ("real", real, _REAL_COLOR),
        ("synthetic", synthetic, _SYNTHETIC_COLOR),
    ):
        positive = np.sort(counts[counts > 0])[::-1]
        if positive.size:
            shares = positive / positive.sum()
            ax.loglog(np.arange(1, positive.size + 1), shares, label=label, color=color)
    ax.set_xlabel("item rank (by count)")
    ax.set_ylabel("share of interactions")
    ax.set_title("Item popularity")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return _png(fig)


def hist_png(
    real: np.ndarray, synthetic: np.ndarray, labels: tuple[str, str], xlabel: str, title: str
) -> bytes:
    """Two overlaid density histograms on shared bins; integer data gets integer bins."""
    both = np.concatenate([real, synthetic])
    if np.all(both == np.round(both)) and both.max() - both.min() <= 80:
        bins = np.arange(both.min() - 0.5, both.max() + 1.5)
    else:
        bins = np.histogram_bin_edges(both, bins=min(60, max(10, int(np.sqrt(both.size)))))
    fig = _new_figure(6.0, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    for label, values, color in (
        (labels[0], real, _REAL_COLOR),
        (labels[1], synthetic, _SYNTHETIC_COLOR),
    ):
        ax.hist(values, bins=bins, density=True, alpha=0.5, color=color, label=label)
        ax.axvline(float(np.median(values)), color=color, linestyle="--", linewidth=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return _png(fig)


# --- user map ---------------------------------------------------------------------------------

#: Top categories with their own colour on the user map (the rest are grey).
MAP_CATEGORIES = 8

_MAP_COLORS = (
    "#4c72b0",
    "#dd8452",
    "#55a868",
    "#c44e52",
    "#8172b3",
    "#937860",
    "#da8bc3",
    "#ccb974",
)
_OTHER_MAP_COLOR = "#b0b0b0"


def _map_legend_codes(top_real: np.ndarray, top_synthetic: np.ndarray) -> list[int]:
    """The :data:`MAP_CATEGORIES` most frequent top categories (ties by the lower code)."""
    codes = np.concatenate([top_real, top_synthetic]).astype(np.int64)
    codes = codes[codes >= 0]
    if codes.size == 0:
        return []
    counts = np.bincount(codes)
    order = np.argsort(-counts, kind="stable")
    return [int(c) for c in order[:MAP_CATEGORIES] if counts[c] > 0]


def user_map_png(real: np.ndarray, synthetic: np.ndarray, explanation: Explanation) -> bytes:
    """Real (circles) and synthetic (triangles) users on the real PCA plane, by top category.

    ``real`` and ``synthetic`` are the explanation's map coordinates, known to be present.
    """
    top_real = np.asarray(explanation.top_category_real)
    top_synthetic = np.asarray(explanation.top_category_synthetic)
    shown = _map_legend_codes(top_real, top_synthetic)
    color_of = {code: _MAP_COLORS[i] for i, code in enumerate(shown)}
    fig = _new_figure(7.5, 4.6)
    ax = fig.add_subplot(1, 1, 1)
    # Synthetic users: triangles with a dark edge, drawn on top of the real circles.
    for coords, top, marker, style in (
        (real, top_real, "o", {"s": 14, "alpha": 0.45, "linewidths": 0}),
        (synthetic, top_synthetic, "^", {"s": 24, "alpha": 0.8, "linewidths": 0.4}),
    ):
        colors = [color_of.get(int(code), _OTHER_MAP_COLOR) for code in top]
        ax.scatter(coords[:, 0], coords[:, 1], c=colors, marker=marker, edgecolors="#222", **style)
    names = explanation.category_names
    handles = [
        Line2D([], [], marker="o", linestyle="", color=color_of[c], label=_label(names[c]))
        for c in shown
    ]
    handles.append(
        Line2D([], [], marker="o", linestyle="", color=_OTHER_MAP_COLOR, label="other / none")
    )
    handles += [
        Line2D([], [], marker="o", linestyle="", color="black", fillstyle="none", label="real"),
        Line2D([], [], marker="^", linestyle="", color="white", mec="#222", label="synthetic"),
    ]
    ax.set_xlabel("PC 1 (of real users)")
    ax.set_ylabel("PC 2")
    ax.set_title("Real and synthetic users")
    ax.grid(alpha=0.3)
    fig.legend(handles=handles, loc="outside right upper", fontsize="small", title="top category")
    return _png(fig)


# --- ranking models (CTR classifiers) ---------------------------------------------------------

#: Colours of the paired differences of the ranking section, one per baseline, in order.
_BASELINE_COLORS = ("#4c72b0", "#55a868", "#8172b3", "#c44e52", "#937860", "#da8bc3")
_VARIANT_COLOR = {"real": _REAL_COLOR, "augmented": _AUG_COLOR}


def diff_bars_png(rows: pd.DataFrame, variants: Mapping[str, str], xlabel: str) -> bytes | None:
    """Paired differences by slice as bars with CI whiskers, one panel per classifier.

    ``rows`` are ``eval_metrics`` rows of one metric; ``variants`` maps each difference
    variant drawn (``augmented_minus_real``, ``augmented_minus_<baseline>``) to its legend
    label, in drawing order. ``None`` when ``rows`` has none of them.
    """
    data = rows[rows["variant"].isin(list(variants))]
    if data.empty:
        return None
    drawn = [v for v in variants if (data["variant"] == v).any()]
    classifiers = ordered_unique(data["recommender"])
    slices = _all_first(data["slice"])
    height = 0.8 / len(drawn)
    fig = _new_figure(
        3.6 * min(len(classifiers), 4) + 1.2,
        (0.22 * len(slices) * len(drawn) + 1.5) * math.ceil(len(classifiers) / 4),
    )
    for ax, classifier in zip(_panels(fig, len(classifiers)), classifiers, strict=True):
        at = data[data["recommender"] == classifier]
        for j, variant in enumerate(drawn):
            stats = _slice_stats(at[at["variant"] == variant], slices)
            ax.barh(
                np.arange(len(slices)) + (j - (len(drawn) - 1) / 2) * height,
                np.nan_to_num(stats[:, 0]),
                height,
                xerr=_bar_errors(stats),
                capsize=2,
                color=_BASELINE_COLORS[j % len(_BASELINE_COLORS)],
                label=_label(variants[variant]),
                error_kw={"elinewidth": 0.8},
            )
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_title(_label(classifier))
        ax.set_xlabel(xlabel)
        ax.set_yticks(np.arange(len(slices)), [_label(s) for s in slices])
        ax.set_ylim(len(slices) - 0.5, -0.5)
        ax.grid(axis="x", alpha=0.3)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper right", ncols=2, fontsize="small")
    return _png(fig)


def _curve_label(variant: str, metric: str, value: float | None) -> str:
    """A legend entry: the variant and, where known, the figure of its curve."""
    return variant if value is None or math.isnan(value) else f"{variant} ({metric} {value:.4f})"


def roc_pr_png(
    curves: Mapping[tuple[str, str], ScoreCurves], values: Mapping[tuple[str, str, str], float]
) -> bytes | None:
    """ROC (top) and precision-recall (bottom) curves per classifier, one line per variant.

    ``curves`` are keyed ``(classifier, variant)``; ``values`` holds the AUC and PR-AUC of
    the legend, keyed ``(classifier, variant, metric)``. The ROC panel has the chance
    diagonal, the precision-recall panel the positive share (a random ranking's precision).
    """
    if not curves:
        return None
    classifiers = ordered_unique(name for name, _ in curves)
    fig = _new_figure(3.4 * len(classifiers) + 0.8, 6.4)
    axes = fig.subplots(2, len(classifiers), squeeze=False)
    for col, classifier in enumerate(classifiers):
        roc, pr = axes[0, col], axes[1, col]
        mine = {variant: c for (name, variant), c in curves.items() if name == classifier}
        roc.plot([0, 1], [0, 1], color=_NEUTRAL_COLOR, linestyle=":", linewidth=0.8)
        # Every variant is scored on the same test rows: one positive share.
        share = next(iter(mine.values())).positive_share
        pr.axhline(share, color=_NEUTRAL_COLOR, linestyle=":", linewidth=0.8)
        for variant, curve in mine.items():
            color = _VARIANT_COLOR.get(variant, _NEUTRAL_COLOR)
            auc = values.get((classifier, variant, "auc"))
            roc.plot(curve.fpr, curve.tpr, color=color, label=_curve_label(variant, "AUC", auc))
            ap = values.get((classifier, variant, "pr_auc"))
            pr.plot(
                curve.recall,
                curve.precision,
                color=color,
                drawstyle="steps-post",
                label=_curve_label(variant, "AP", ap),
            )
        roc.set_title(f"{_label(classifier)}: ROC")
        roc.set_xlabel("false-positive rate")
        roc.set_ylabel("true-positive rate")
        pr.set_title(f"{_label(classifier)}: precision-recall")
        pr.set_xlabel("recall")
        pr.set_ylabel("precision")
        for ax in (roc, pr):
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
            ax.legend(fontsize="x-small", loc="lower right" if ax is roc else "upper right")
    return _png(fig)


def calibration_png(curves: Mapping[tuple[str, str], ScoreCurves]) -> bytes | None:
    """Reliability diagram per classifier (top) over the rows per score bin (bottom, log).

    Each variant's observed positive share against its mean score per bin; the diagonal is
    perfect calibration.
    """
    if not curves:
        return None
    classifiers = ordered_unique(name for name, _ in curves)
    fig = _new_figure(3.4 * len(classifiers) + 0.8, 4.8)
    axes = fig.subplots(
        2, len(classifiers), squeeze=False, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for col, classifier in enumerate(classifiers):
        top, bottom = axes[0, col], axes[1, col]
        top.plot([0, 1], [0, 1], color=_NEUTRAL_COLOR, linestyle=":", linewidth=0.8)
        mine = {variant: c for (name, variant), c in curves.items() if name == classifier}
        for variant, curve in mine.items():
            color = _VARIANT_COLOR.get(variant, _NEUTRAL_COLOR)
            top.plot(curve.predicted, curve.observed, "o-", color=color, label=variant)
            edges = np.linspace(0.0, 1.0, curve.score_counts.size + 1)
            bottom.stairs(curve.score_counts, edges, color=color, label=variant)
        top.set_title(f"{_label(classifier)}: calibration")
        top.set_ylabel("share of positives")
        top.set_xlim(0, 1)
        top.set_ylim(0, 1.02)
        top.grid(alpha=0.3)
        top.legend(fontsize="x-small", loc="upper left")
        bottom.set_yscale("log")
        bottom.set_xlabel("predicted probability")
        bottom.set_ylabel("rows")
        bottom.grid(alpha=0.3)
    return _png(fig)
