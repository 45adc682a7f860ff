"""A single self-contained HTML page summarising a stage 4 evaluation run.

The page has no external CSS, JS or image files (plots are inline base64 PNGs), so it can be
attached to a ticket, opened offline or served from object storage as one file. It reads top
down in about a minute: the verdict (which variant wins on which slice, with CIs), then the
plots behind it (utility by slice, dose response, fidelity, privacy), what the generator learned
(a map of real and synthetic users, nearest real users, category shifts, latent directions),
then every metric row and the run summary.

Figures are drawn on a matplotlib Agg canvas directly, never through pyplot, so no global
backend is switched and no figure is left open.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

if TYPE_CHECKING:  # explain.py imports torch and the models; the page only reads its fields
    from samplegen.evaluate.explain import Explanation

#: Columns ``write_report`` needs in its ``metrics`` frame.
METRIC_COLUMNS = (
    "recommender",
    "variant",
    "slice",
    "metric",
    "k",
    "value",
    "ci_low",
    "ci_high",
    "n_users",
    "seed",
)

#: The variant holding paired differences (augmented - real); it decides the verdicts.
DIFF_VARIANT = "augmented_minus_real"

#: Variants of a dose sweep are ``dose=<ratio>``.
DOSE_PREFIX = "dose="

#: Metric of the dose rows holding the synthetic-to-real interaction ratio of each dose.
DOSE_RATIO_METRIC = "synthetic_to_real"

#: Pseudo-recommenders of the data-quality rows.
FIDELITY = "fidelity"
PRIVACY = "privacy"
#: Rows of a catalogue run: its synthetic items against the real catalogue.
ITEM_FIDELITY = "item_fidelity"

#: Resolution of every figure; keeps the page around 1 MB with many slices and recommenders.
DPI = 90

_REAL_COLOR = "#4c72b0"
_SYNTHETIC_COLOR = "#dd8452"
_AUG_COLOR = _SYNTHETIC_COLOR
_OUTCOME_COLOR = {"better": "#1a7f37", "worse": "#cf222e"}
_NEUTRAL_COLOR = "#6e7781"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1300px; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
#verdict ul { font-family: ui-monospace, monospace; font-size: 0.9em; }
.better { color: #1a7f37; font-weight: bold; }
.worse { color: #cf222e; font-weight: bold; }
.note { color: #6e7781; font-style: italic; }
figure { margin: 1em 0; }
figcaption { color: #444; font-size: 0.9em; }
img { max-width: 100%; }
"""


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


#: Outcome classes of a comparison (also the CSS classes of the verdict lines).
_OUTCOMES = ("better", "worse", "same", "undetermined")


@dataclass(frozen=True)
class _Verdict:
    """One recommender x slice comparison: its terminal line and its outcome class."""

    line: str
    outcome: str  # "better", "worse", "same" or "undetermined"
    recommender: str = ""
    slice: str = ""
    diff: str = ""  # the mean difference and the CI range, e.g. "+0.0066 [+0.0010, +0.0120]"


# --- formatting -------------------------------------------------------------------------------


def _esc(value: object) -> str:
    """HTML-escape any value's text, quotes included."""
    return html.escape(str(value), quote=True)


def _is_missing(value: object) -> bool:
    """Whether ``value`` is ``None`` or a float NaN (pandas' missing markers)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _fmt(value: object) -> str:
    """Format a number to 4 decimals; missing values become ``n/a``. Escaped."""
    if _is_missing(value):
        return "n/a"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return _esc(value)
    return "n/a" if math.isnan(number) else f"{number:.4f}"


def _signed(value: float) -> str:
    """Format a difference with its sign and 4 decimals; NaN becomes ``n/a``."""
    return "n/a" if math.isnan(value) else f"{value:+.4f}"


def _plain(value: float) -> str:
    """Format a metric value with 4 decimals; NaN becomes ``n/a``."""
    return "n/a" if math.isnan(value) else f"{value:.4f}"


def _fmt_int(value: object) -> str:
    """Format a count without decimals; missing values become ``n/a``. Escaped."""
    if _is_missing(value):
        return "n/a"
    try:
        return str(int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return _esc(value)


def _ordered_unique(values: Iterable[object]) -> list[object]:
    """Distinct values in first-seen order, so the page follows the frame's order."""
    return list(dict.fromkeys(values))


def _all_first(values: Iterable[object]) -> list[object]:
    """Distinct values in first-seen order, with the ``all`` slice moved to the front."""
    return sorted(_ordered_unique(values), key=lambda value: value != "all")


def _label(value: object) -> str:
    """Text for a plot label, with ``$`` escaped so matplotlib never reads it as math."""
    return str(value).replace("$", r"\$")


def _numeric(series: pd.Series) -> pd.Series:
    """A column as floats; text and ``None`` become NaN."""
    return pd.to_numeric(series, errors="coerce").astype(np.float64)


# --- verdict ----------------------------------------------------------------------------------


def _ndcg_at(metrics: pd.DataFrame, k: int) -> pd.DataFrame:
    """The NDCG rows at cutoff ``k``."""
    return metrics[(metrics["metric"] == "ndcg") & (_numeric(metrics["k"]) == k)]


def _mean(frame: pd.DataFrame, variant: str, column: str = "value") -> float:
    """Mean over seeds of ``column`` for one variant's rows; NaN when there are none."""
    values = _numeric(frame.loc[frame["variant"] == variant, column]).dropna()
    return float(values.mean()) if len(values) else math.nan


def _seed_outcome(low: float, high: float) -> str:
    """Outcome of one seed's paired-difference CI: it is significant when it excludes zero."""
    if math.isnan(low) or math.isnan(high):
        return "undetermined"
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "same"


def _combine_seeds(outcomes: Sequence[str]) -> tuple[str, str]:
    """Outcome over seeds and the words for it.

    Augmented is better (worse) only when every seed's CI is above (below) zero; anything else
    is no significant difference, with a note on how many seeds were significant.
    """
    n = len(outcomes)
    if all(o == "undetermined" for o in outcomes):
        return "undetermined", "undetermined (no CI)"
    for outcome in ("better", "worse"):
        if all(o == outcome for o in outcomes):
            return outcome, f"augmented is {outcome}"
    significant = sum(o in ("better", "worse") for o in outcomes)
    words = "no significant difference"
    if significant:
        words += f" (significant in {significant} of {n} seeds)"
    return "same", words


def _comparison(recommender: object, slice_: object, group: pd.DataFrame, k: int) -> _Verdict:
    """The verdict for one recommender x slice from its NDCG rows at ``k`` (all seeds)."""
    diffs = group[group["variant"] == DIFF_VARIANT]
    lows = _numeric(diffs["ci_low"]).to_numpy()
    highs = _numeric(diffs["ci_high"]).to_numpy()
    outcome, words = _combine_seeds(
        [_seed_outcome(float(lo), float(hi)) for lo, hi in zip(lows, highs, strict=True)]
    )
    low = float(np.nanmin(lows)) if not np.isnan(lows).all() else math.nan
    high = float(np.nanmax(highs)) if not np.isnan(highs).all() else math.nan
    seeds = f" ({len(diffs)} seeds)" if len(diffs) > 1 else ""
    diff = f"{_signed(_mean(group, DIFF_VARIANT))} [{_signed(low)}, {_signed(high)}]"
    line = (
        f"{recommender} slice={slice_} NDCG@{k} real={_plain(_mean(group, 'real'))} "
        f"augmented={_plain(_mean(group, 'augmented'))} diff={diff}{seeds}: {words}"
    )
    return _Verdict(line, outcome, str(recommender), str(slice_), diff)


def _verdicts(metrics: pd.DataFrame, k: int) -> list[_Verdict]:
    """One verdict per recommender x slice with paired-difference NDCG rows at ``k``."""
    ndcg = _ndcg_at(metrics, k)
    diffs = ndcg[ndcg["variant"] == DIFF_VARIANT]
    pairs = list(dict.fromkeys(zip(diffs["recommender"], diffs["slice"], strict=True)))
    pairs.sort(key=lambda pair: pair[1] != "all")  # stable: frame order otherwise
    verdicts = []
    for recommender, slice_ in pairs:
        group = ndcg[(ndcg["recommender"] == recommender) & (ndcg["slice"] == slice_)]
        verdicts.append(_comparison(recommender, slice_, group, k))
    return verdicts


def verdict_lines(metrics: pd.DataFrame, k: int) -> list[str]:
    """Plain-text verdicts: augmented vs real NDCG@k per recommender and slice.

    One line per recommender x slice that has ``augmented_minus_real`` NDCG rows at ``k``,
    e.g. ``ease slice=cold NDCG@20 real=0.1234 augmented=0.1300 diff=+0.0066 [+0.0010,
    +0.0120]: augmented is better``. With several seeds the values are means over seeds, the
    bracket spans the lowest to highest CI bound, and augmented is better (worse) only if every
    seed's CI is above (below) zero; otherwise "no significant difference", noting how many
    seeds were significant. Slice ``all`` comes first for every recommender, then the other
    slices in the frame's order.

    Args:
        metrics: Metric rows with columns :data:`METRIC_COLUMNS`.
        k: The headline cutoff.

    Returns:
        The lines, ready for a terminal or a log (no markup).
    """
    return [v.line for v in _verdicts(metrics, k)]


def _summary_sentence(verdicts: Sequence[_Verdict], k: int) -> str:
    """One sentence counting wins, losses and ties over all comparisons."""
    counts = {o: sum(v.outcome == o for v in verdicts) for o in _OUTCOMES}
    sentence = (
        f"Augmented data wins on {counts['better']} of {len(verdicts)} recommender x slice "
        f"comparisons at NDCG@{k}, loses on {counts['worse']}, "
        f"no significant difference on {counts['same']}"
    )
    if counts["undetermined"]:
        sentence += f", undetermined (no CI) on {counts['undetermined']}"
    chance = len(verdicts) / 20
    return (
        sentence + f". Each CI is 95% on its own, so about {chance:.1f} of {len(verdicts)} "
        "comparisons would look significant by chance alone."
    )


def _verdict_html(metrics: pd.DataFrame, k: int) -> str:
    """The verdict section: the summary sentence, then one escaped line per comparison."""
    verdicts = _verdicts(metrics, k)
    if not verdicts:
        body = (
            f'<p class="note">No paired NDCG@{k} comparisons ({_esc(DIFF_VARIANT)} rows) '
            "in the metrics, so there is no verdict.</p>"
        )
    else:
        items = "\n".join(f'<li class="{v.outcome}">{_esc(v.line)}</li>' for v in verdicts)
        body = (
            f'<p id="verdict-summary">{_esc(_summary_sentence(verdicts, k))}</p>\n'
            f"<ul>\n{items}\n</ul>\n"
            '<p class="note">diff = augmented - real (paired bootstrap) with its CI; '
            "with several seeds, means over seeds and the range of their CIs.</p>"
        )
    return _section("verdict", "Verdict", body)


#: Slices the strategies table compares runs on.
STRATEGY_SLICES = ("all", "cold")


def _strategies_html(metrics: pd.DataFrame, data: ReportData | None, k: int) -> str:
    """NDCG@k difference vs real-only of this run next to other runs', on all and cold users.

    Runs evaluated on the same lakehouse share the test split and the real-only baseline, so
    their paired differences are directly comparable.
    """
    if data is None or not data.other_runs:
        return _section(
            "strategies",
            "Strategies and baselines",
            _note(
                "Only this run. List other evaluated runs (other strategies, augment/ baselines) "
                "in evaluate.other_runs to see them side by side here."
            ),
        )
    runs = {data.strategy: metrics, **data.other_runs}
    cells: dict[tuple[str, str], dict[str, _Verdict]] = {}
    for label, frame in runs.items():
        for verdict in _verdicts(frame, k):
            if verdict.slice in STRATEGY_SLICES:
                cells.setdefault((verdict.recommender, verdict.slice), {})[label] = verdict
    header = "".join(f"<th>{_esc(label)}</th>" for label in runs)
    rows = []
    for (recommender, slice_), by_run in cells.items():
        row = "".join(
            f'<td class="num {by_run[label].outcome}">{_esc(by_run[label].diff)}</td>'
            if label in by_run
            else "<td>n/a</td>"
            for label in runs
        )
        rows.append(f"<tr><td>{_esc(recommender)}</td><td>{_esc(slice_)}</td>{row}</tr>")
    table = (
        f'<table id="strategies-table"><thead><tr><th>recommender</th><th>slice</th>{header}'
        "</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
    )
    note = _note(
        f"NDCG@{k} of real + synthetic minus real-only (paired bootstrap 95% CI; the range over "
        "seeds where there are several). Green: better, red: worse, in every seed."
    )
    return _section("strategies", "Strategies and baselines", table + "\n" + note)


# --- HTML building blocks ---------------------------------------------------------------------


def _section(section_id: str, title: str, body: str) -> str:
    """A ``<section>`` with a stable id and an ``<h2>``."""
    return f'<section id="{_esc(section_id)}">\n<h2>{_esc(title)}</h2>\n{body}\n</section>'


def _note(text: str) -> str:
    """A paragraph explaining why something is not shown."""
    return f'<p class="note">{_esc(text)}</p>'


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


def _figure_html(plot_id: str, png: bytes, alt: str, caption: str) -> str:
    """An inline PNG in a ``<figure id=...>`` with alt text and a caption."""
    encoded = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="{_esc(plot_id)}"><img alt="{_esc(alt)}" '
        f'src="data:image/png;base64,{encoded}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


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
        values = _numeric(at["value"])
        lows, highs = _numeric(at["ci_low"]), _numeric(at["ci_high"])
        stats[i] = [values.mean(), lows.min(), highs.max()]
    return stats


def _bar_errors(stats: np.ndarray) -> np.ndarray:
    """Asymmetric error-bar lengths (2 x n) from :func:`_slice_stats` rows."""
    lower = [_nonneg(v - lo) for v, lo, _ in stats]
    upper = [_nonneg(hi - v) for v, _, hi in stats]
    return np.array([lower, upper])


def _utility_png(ndcg: pd.DataFrame, k: int) -> bytes | None:
    """Horizontal bars of NDCG@k by slice, real vs augmented, one panel per recommender."""
    data = ndcg[ndcg["variant"].isin(["real", "augmented"])]
    if data.empty:
        return None
    recommenders = _ordered_unique(data["recommender"])
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


def _diff_png(ndcg: pd.DataFrame, k: int) -> bytes | None:
    """The paired difference by slice with CI bars and a zero line; one point per seed."""
    data = ndcg[ndcg["variant"] == DIFF_VARIANT]
    if data.empty:
        return None
    recommenders = _ordered_unique(data["recommender"])
    slices = _all_first(data["slice"])
    position = {s: i for i, s in enumerate(slices)}
    fig = _slice_figure(len(recommenders), len(slices))
    for ax, recommender in zip(_panels(fig, len(recommenders)), recommenders, strict=True):
        rows = data[data["recommender"] == recommender]
        keys = [None if _is_missing(seed) else seed for seed in rows["seed"]]
        seeds = _ordered_unique(keys)
        for j, seed in enumerate(seeds):
            at = rows[[key == seed for key in keys]]
            offset = (j - (len(seeds) - 1) / 2) * min(0.6 / len(seeds), 0.2)
            for slice_, value, low, high in zip(
                at["slice"],
                _numeric(at["value"]),
                _numeric(at["ci_low"]),
                _numeric(at["ci_high"]),
                strict=True,
            ):
                color = _OUTCOME_COLOR.get(_seed_outcome(low, high), _NEUTRAL_COLOR)
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


def _utility_html(metrics: pd.DataFrame, k: int) -> str:
    """The utility section: NDCG@k by slice, and the paired difference by slice."""
    ndcg = _ndcg_at(metrics, k)
    parts = []
    png = _utility_png(ndcg, k)
    if png is None:
        parts.append(_note(f"No real or augmented NDCG@{k} rows, so no utility plot."))
    else:
        parts.append(
            _figure_html(
                "plot-utility-by-slice",
                png,
                f"NDCG@{k} by slice, real vs augmented, one panel per recommender",
                f"NDCG@{k} by slice: real vs augmented training data, with CI error bars "
                "(several seeds: mean value, CI range over seeds).",
            )
        )
    png = _diff_png(ndcg, k)
    if png is None:
        parts.append(_note(f"No paired-difference NDCG@{k} rows, so no difference plot."))
    else:
        parts.append(
            _figure_html(
                "plot-utility-diff",
                png,
                f"Paired difference augmented minus real NDCG@{k} by slice with CIs",
                f"Augmented - real NDCG@{k} (paired bootstrap) with its CI, one point per seed; "
                "green: CI above zero, red: below zero, grey: includes zero.",
            )
        )
    return _section("utility", "Utility by slice", "\n".join(parts))


# --- dose response ----------------------------------------------------------------------------


def _dose_number(variant: object) -> float:
    """The ratio in a ``dose=<r>`` variant name, or NaN."""
    try:
        return float(str(variant)[len(DOSE_PREFIX) :])
    except ValueError:
        return math.nan


def _dose_points(metrics: pd.DataFrame, k: int) -> tuple[pd.DataFrame, bool]:
    """Dose-sweep NDCG differences at ``k`` with their x position, and whether x is a ratio.

    x is the measured synthetic-to-real ratio when every dose has one, else the dose number.
    Seeds are averaged (value) and their CIs spanned (lowest low, highest high).
    """
    dose = metrics[metrics["variant"].astype(str).str.startswith(DOSE_PREFIX)]
    ndcg = _ndcg_at(dose, k)
    if ndcg.empty:
        return pd.DataFrame(), False
    ratios = dose[dose["metric"] == DOSE_RATIO_METRIC]
    points = []
    for (recommender, variant), rows in ndcg.groupby(["recommender", "variant"], sort=False):
        ratio = _numeric(ratios.loc[ratios["variant"] == variant, "value"]).dropna()
        points.append(
            {
                "recommender": recommender,
                "dose": _dose_number(variant),
                "ratio": float(ratio.mean()) if len(ratio) else math.nan,
                "value": float(_numeric(rows["value"]).mean()),
                "low": float(_numeric(rows["ci_low"]).min()),
                "high": float(_numeric(rows["ci_high"]).max()),
            }
        )
    frame = pd.DataFrame(points)
    use_ratio = bool(frame["ratio"].notna().all())
    frame["x"] = frame["ratio"] if use_ratio else frame["dose"]
    return frame.dropna(subset=["x", "value"]).sort_values(["recommender", "x"]), use_ratio


def _dose_png(points: pd.DataFrame, use_ratio: bool, k: int) -> bytes:
    """NDCG difference vs dose: a line per recommender with CI bars and band, zero line."""
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
    ax.set_xlabel("synthetic / real interactions" if use_ratio else "dose (synthetic ratio)")
    ax.set_ylabel(f"NDCG@{k} augmented - real")
    ax.set_title("Dose response")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", title="recommender")
    return _png(fig)


def _dose_html(metrics: pd.DataFrame, k: int) -> str:
    """The dose-response section, or a note when the run has no dose sweep."""
    points, use_ratio = _dose_points(metrics, k)
    if points.empty:
        body = _note(f"No dose-sweep rows ({DOSE_PREFIX}<ratio> NDCG@{k}), so no dose plot.")
    else:
        body = _figure_html(
            "plot-dose-response",
            _dose_png(points, use_ratio, k),
            f"NDCG@{k} difference versus amount of synthetic data",
            f"Augmented - real NDCG@{k} against the amount of synthetic data added, with CIs; "
            "above the zero line synthetic data helps.",
        )
    return _section("dose-response", "Dose response", body)


# --- fidelity and privacy ---------------------------------------------------------------------


def _family_table_html(metrics: pd.DataFrame, family: str) -> str:
    """The rows of one pseudo-recommender (fidelity or privacy) as a small table."""
    rows = metrics[metrics["recommender"] == family]
    if rows.empty:
        return _note(f"No {family} rows in the metrics.")
    body = "\n".join(
        f"<tr><td>{_esc(variant)}</td><td>{_esc(metric)}</td>"
        f'<td class="num">{_fmt(value)}</td></tr>'
        for variant, metric, value in zip(
            rows["variant"], rows["metric"], rows["value"], strict=True
        )
    )
    return (
        f'<table id="{_esc(family)}-table"><thead><tr><th>strategy</th><th>metric</th>'
        f"<th>value</th></tr></thead>\n<tbody>\n{body}\n</tbody></table>"
    )


def _finite(values: np.ndarray | None) -> np.ndarray | None:
    """The finite entries of ``values`` as floats, or ``None`` if there are none."""
    if values is None:
        return None
    array = np.asarray(values, dtype=np.float64).ravel()
    array = array[np.isfinite(array)]
    return array if array.size else None


def _popularity_png(real: np.ndarray, synthetic: np.ndarray) -> bytes:
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


def _hist_png(
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


def _pair(data: ReportData | None, first: str, second: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Two arrays of ``data`` (finite entries), or ``None`` if either is missing or empty."""
    if data is None:
        return None
    a, b = _finite(getattr(data, first)), _finite(getattr(data, second))
    return None if a is None or b is None else (a, b)


def _fidelity_html(metrics: pd.DataFrame, data: ReportData | None) -> str:
    """The fidelity section: the fidelity rows, popularity curves and basket-size histograms."""
    parts = [_family_table_html(metrics, FIDELITY)]
    if (metrics["recommender"] == ITEM_FIDELITY).any():
        parts.append(
            "<h3>Synthetic items</h3>\n"
            + _family_table_html(metrics, ITEM_FIDELITY)
            + _note(
                "Per-column total variation distance (tvd), price KS and the TVD of the "
                "(department, category) pairs, synthetic items vs the real catalogue."
            )
        )
    popularity = _pair(data, "popularity_real", "popularity_synthetic")
    if popularity is None:
        parts.append(_note("No item popularity counts were passed, so no popularity plot."))
    else:
        parts.append(
            _figure_html(
                "plot-popularity",
                _popularity_png(*popularity),
                "Item popularity curves, real vs synthetic, log-log",
                "Share of interactions per item, items sorted by count (log-log); close curves "
                "mean the synthetic data keeps the long tail of the real data.",
            )
        )
    basket = _pair(data, "basket_real", "basket_synthetic")
    if basket is None:
        parts.append(_note("No basket sizes were passed, so no basket-size plot."))
    else:
        parts.append(
            _figure_html(
                "plot-basket-size",
                _hist_png(*basket, ("real", "synthetic"), "items per user", "Basket size"),
                "Basket-size distributions, real vs synthetic",
                "Items per user record, real vs synthetic, as densities (dashed: medians).",
            )
        )
    return _section("fidelity", "Fidelity", "\n".join(parts))


def _privacy_html(metrics: pd.DataFrame, data: ReportData | None) -> str:
    """The privacy section: the privacy rows and the DCR histograms."""
    parts = [_family_table_html(metrics, PRIVACY)]
    dcr = _pair(data, "dcr_synthetic", "dcr_holdout")
    if dcr is None:
        parts.append(_note("No distances to closest record were passed, so no DCR plot."))
    else:
        parts.append(
            _figure_html(
                "plot-dcr",
                _hist_png(
                    *dcr,
                    ("synthetic", "holdout"),
                    "distance to closest real training record",
                    "Distance to closest record (DCR)",
                ),
                "Distance to closest record histograms, synthetic vs holdout",
                "Distance to the closest real training record: synthetic records vs held-out "
                "real records, as densities (dashed: medians). Synthetic mass left of the "
                "holdout distribution suggests copying.",
            )
        )
    return _section("privacy", "Privacy", "\n".join(parts))


# --- what the generator learned ---------------------------------------------------------------

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

#: Shown in a table cell with no value (e.g. a category the strategy set no target for).
_NONE = "\u2014"


def _fmt_or_dash(value: object) -> str:
    """:func:`_fmt`, but a dash for a missing value (it means "none", not "unknown")."""
    return _NONE if _is_missing(value) else _fmt(value)


def _map_legend_codes(top_real: np.ndarray, top_synthetic: np.ndarray) -> list[int]:
    """The :data:`MAP_CATEGORIES` most frequent top categories (ties by the lower code)."""
    codes = np.concatenate([top_real, top_synthetic]).astype(np.int64)
    codes = codes[codes >= 0]
    if codes.size == 0:
        return []
    counts = np.bincount(codes)
    order = np.argsort(-counts, kind="stable")
    return [int(c) for c in order[:MAP_CATEGORIES] if counts[c] > 0]


def _user_map_png(real: np.ndarray, synthetic: np.ndarray, explanation: Explanation) -> bytes:
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


def _table(table_id: str, header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """An HTML table; ``header`` is escaped here, the cells must already be markup."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return (
        f'<table id="{_esc(table_id)}"><thead><tr>{head}</tr></thead>\n<tbody>\n'
        f"{body}\n</tbody></table>"
    )


def _num(text: str) -> str:
    """A right-aligned number cell (``text`` already formatted and escaped)."""
    return f'<td class="num">{text}</td>'


def _neighbours_table(frame: pd.DataFrame) -> str:
    """The nearest-real-user rows, most similar first."""
    rows = [
        (
            _num(_fmt_int(r.synthetic)),
            _num(_fmt_int(r.synthetic_items)),
            _num(_fmt_int(r.nearest_real) if int(r.nearest_real) >= 0 else _NONE),
            _num(_fmt_int(r.real_items)),
            _num(_fmt_int(r.shared_items)),
            _num(_fmt(r.jaccard)),
            _num(_fmt_int(r.new_items)),
        )
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
    return _table("neighbours-table", header, rows)


def _shift_table(frame: pd.DataFrame) -> str:
    """Category shares, real vs synthetic, with the shift, the written share and the target."""
    rows = [
        (
            f"<td>{_esc(r.category)}</td>",
            _num(_fmt(r.real_share)),
            _num(_fmt(r.synthetic_share)),
            f'<td class="num">{_signed(float(r.shift))}</td>',
            _num(_fmt_or_dash(r.written_share)),
            _num(_fmt_or_dash(r.target_share)),
        )
        for r in frame.itertuples(index=False)
    ]
    header = ("category", "real share", "synthetic share", "shift", "written share", "target")
    return _table("category-shift-table", header, rows)


def _latent_table(frame: pd.DataFrame) -> str:
    """One row per latent direction: its strength, its name and its top items."""
    rows = []
    for direction, group in frame.groupby("direction", sort=False):
        name = str(group["name"].iloc[0])
        named = int((group["category"] == name).sum())
        items = "; ".join(
            f"#{int(r.item)} {r.category} ({_signed(float(r.logit_diff))})"
            for r in group.sort_values("rank").itertuples(index=False)
        )
        rows.append(
            (
                _num(_fmt_int(direction)),
                _num(_fmt(group["effect"].iloc[0])),
                f"<td>{_esc(name)} ({named} of {len(group)})</td>",
                f"<td>{_esc(items)}</td>",
            )
        )
    header = ("latent dimension", "effect", "named after", "top items (logit change)")
    return _table("latent-directions-table", header, rows)


def _explain_html(data: ReportData | None) -> str:
    """The explain section: user map, nearest real users, category shift, latent directions."""
    explanation = None if data is None else data.explanation
    missing = "No explanation was passed"
    notes = {} if explanation is None else explanation.notes
    parts = ["<h3>Map of users</h3>"]
    if explanation is None or explanation.map_real is None or explanation.map_synthetic is None:
        parts.append(_note(notes.get("map", f"{missing}, so there is no user map.")))
    else:
        parts.append(
            _figure_html(
                "plot-user-map",
                _user_map_png(explanation.map_real, explanation.map_synthetic, explanation),
                "Real and synthetic users on the first two principal components of real users, "
                "coloured by top category",
                "Real users (circles) and synthetic users as recommenders are trained on them "
                "(triangles: a densified user's own plus added items, or a new user), placed on "
                "the first two principal components of the real users' item sets (popular "
                "items, rows L2-normalised; at most 2,000 users a side) and coloured by each "
                "user's most frequent category. Synthetic users should cover the real cloud, not "
                "sit on one part of it.",
            )
        )
    parts.append("<h3>Nearest real users</h3>")
    if explanation is None or explanation.neighbours is None:
        parts.append(_note(notes.get("neighbours", f"{missing}, so no neighbours.")))
    else:
        parts.append(_neighbours_table(explanation.neighbours))
        parts.append(
            _note(
                "A sample of what the run wrote (a new user's items, or only the items added to "
                "a real user) and the real training user closest to it by Jaccard similarity. "
                "Jaccard near 1 with few items not in the nearest user means copying; low "
                "Jaccard with most items new means novelty."
            )
        )
    parts.append("<h3>Category shift</h3>")
    if explanation is None or explanation.category_shift is None:
        parts.append(_note(notes.get("category_shift", f"{missing}, so no category shift.")))
    else:
        parts.append(_shift_table(explanation.category_shift))
        parts.append(
            _note(
                "Share of interactions per category: real training users vs synthetic users as "
                "trained on (shift = synthetic - real), the share among only the items the run "
                "wrote, and the target share the strategy aimed those at (\u2014: no target; "
                "quota strategies record the targets of their largest groups in the manifest)."
            )
        )
        if explanation.other_targets:
            targets = ", ".join(f"{k} {v:.4f}" for k, v in explanation.other_targets.items())
            parts.append(
                _note(f"Targets of groups that are not categories (written items): {targets}.")
            )
    parts.append("<h3>Latent directions</h3>")
    if explanation is None or explanation.latent is None:
        parts.append(_note(notes.get("latent", f"{missing}, so no latent directions.")))
    else:
        parts.append(_latent_table(explanation.latent))
        parts.append(
            _note(
                "The latent dimensions that change the decoder's output most: items whose logit "
                "rises most from z = -2 e_j to z = +2 e_j (other coordinates 0; a cvae decodes "
                "under the real users' mean condition), relative to the average item, each "
                "dimension named after the most frequent category of its items."
            )
        )
    return _section("explain", "What the generator learned", "\n".join(parts))


# --- tables -----------------------------------------------------------------------------------


def _metrics_table_html(metrics: pd.DataFrame) -> str:
    """Every metric row as an HTML table; values and CIs to 4 decimals."""
    header = "".join(f"<th>{_esc(c)}</th>" for c in METRIC_COLUMNS)
    rows: list[str] = []
    for record in metrics[list(METRIC_COLUMNS)].itertuples(index=False):
        (recommender, variant, slice_, metric, k, value, low, high, n_users, seed) = record
        rows.append(
            '<tr class="metric-row">'
            f"<td>{_esc(recommender)}</td><td>{_esc(variant)}</td><td>{_esc(slice_)}</td>"
            f'<td>{_esc(metric)}</td><td class="num">{_fmt_int(k)}</td>'
            f'<td class="num">{_fmt(value)}</td><td class="num">{_fmt(low)}</td>'
            f'<td class="num">{_fmt(high)}</td><td class="num">{_fmt_int(n_users)}</td>'
            f'<td class="num">{_fmt_int(seed)}</td>'
            "</tr>"
        )
    return (
        f'<table id="metrics"><thead><tr>{header}</tr></thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody></table>"
    )


def _summary_table_html(summary: dict[str, object]) -> str:
    """The run summary (counts, timings, paths) as a key/value table."""
    if not summary:
        return _note("No summary values.")
    rows = "\n".join(
        f"<tr><th>{_esc(key)}</th><td>{_esc(value)}</td></tr>" for key, value in summary.items()
    )
    return f'<table id="summary">\n{rows}\n</table>'


_NAV = (
    ("verdict", "Verdict"),
    ("strategies", "Strategies"),
    ("utility", "Utility by slice"),
    ("dose-response", "Dose response"),
    ("fidelity", "Fidelity"),
    ("privacy", "Privacy"),
    ("explain", "What the generator learned"),
    ("all-metrics", "All metrics"),
    ("run-summary", "Summary"),
)


def write_report(
    out_dir: Path,
    run_id: str,
    metrics: pd.DataFrame,
    summary: dict[str, object],
    k: int,
    data: ReportData | None = None,
) -> Path:
    """Write ``out_dir/index.html`` for one evaluation run and return its path.

    The page holds, in order, each in a ``<section>`` with a stable id: the verdict (a summary
    sentence and :func:`verdict_lines`), utility by slice (NDCG@k real vs augmented, and the
    paired difference, with CI bars), dose response, fidelity (table, popularity curves,
    basket-size histograms), privacy (table, DCR histograms), what the generator learned (user
    map, nearest real users, category shift, latent directions), every metric row, and the run
    summary. Plots and tables whose data is absent are replaced by a note. All text is
    HTML-escaped and images are inline PNGs, so the file is viewable offline on its own.

    Args:
        out_dir: Directory to write into; created if missing.
        run_id: Identifier of the run, shown in the title.
        metrics: One row per metric value with columns :data:`METRIC_COLUMNS`.
        summary: Free-form run facts (row counts, timings, paths) shown as a key/value table.
        k: The headline cutoff of the verdict, utility and dose plots.
        data: Arrays behind the popularity, basket-size and DCR plots and the explanation;
            ``None`` skips them.

    Returns:
        Path of the written ``index.html``.

    Raises:
        ValueError: If ``metrics`` lacks one of :data:`METRIC_COLUMNS`.
    """
    missing = [c for c in METRIC_COLUMNS if c not in metrics.columns]
    if missing:
        raise ValueError(f"metrics is missing columns {missing}; expected {list(METRIC_COLUMNS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"samplegen evaluation &mdash; {_esc(run_id)}"
    nav = " ".join(f'<a href="#{anchor}">{_esc(label)}</a>' for anchor, label in _NAV)
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{title}</title>",
            f"<style>{_STYLE}</style>",
            "</head><body>",
            f"<h1>{title}</h1>",
            f"<nav>{nav}</nav>",
            _verdict_html(metrics, k),
            _strategies_html(metrics, data, k),
            _utility_html(metrics, k),
            _dose_html(metrics, k),
            _fidelity_html(metrics, data),
            _privacy_html(metrics, data),
            _explain_html(data),
            _section("all-metrics", "All metrics", _metrics_table_html(metrics)),
            _section("run-summary", "Summary", _summary_table_html(summary)),
            "</body></html>",
            "",
        ]
    )
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
