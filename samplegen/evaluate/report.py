"""A single self-contained HTML page summarising a stage 4 evaluation run.

The page has no external CSS, JS or image files (plots are inline base64 PNGs), so it can be
attached to a ticket, opened offline or served from object storage as one file.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

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
)

#: The variant holding paired differences; it decides the headline verdicts.
DIFF_VARIANT = "augmented_minus_real"

#: Metrics plotted, in page order, when present.
PLOTTED_METRICS = ("ndcg", "recall", "coverage")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
.better { color: #1a7f37; font-weight: bold; }
.worse { color: #cf222e; font-weight: bold; }
img { max-width: 100%; }
"""


def _esc(value: object) -> str:
    """HTML-escape any value's text, quotes included."""
    return html.escape(str(value), quote=True)


def _fmt(value: object) -> str:
    """Format a number to 4 decimals; missing values become ``n/a``."""
    if value is None:
        return "n/a"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return _esc(value)
    return "n/a" if math.isnan(number) else f"{number:.4f}"


def _fmt_int(value: object) -> str:
    """Format a count without decimals; missing values become ``n/a``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    try:
        return str(int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return _esc(value)


def _ordered_unique(values: Iterable[object]) -> list[object]:
    """Distinct values in first-seen order, so the page follows the frame's order."""
    return list(dict.fromkeys(values))


def _verdict(row: pd.Series | None, real: pd.Series | None, aug: pd.Series | None) -> str:
    """Classify augmented vs real from the paired-difference CI, or the two CIs as fallback.

    With a paired row the difference is significant when its CI excludes zero. Without one the
    two unpaired CIs must not overlap, which is conservative.
    """
    if row is not None:
        low, high = float(row["ci_low"]), float(row["ci_high"])
        if math.isnan(low) or math.isnan(high):
            return "undetermined (no CI)"
        if low > 0:
            return "better"
        if high < 0:
            return "worse"
        return "no significant difference"
    if real is None or aug is None:
        return "undetermined (missing variant)"
    bounds = [float(real["ci_low"]), float(real["ci_high"])]
    bounds += [float(aug["ci_low"]), float(aug["ci_high"])]
    if any(math.isnan(b) for b in bounds):
        return "undetermined (no CI)"
    if bounds[2] > bounds[1]:
        return "better (unpaired CIs)"
    if bounds[3] < bounds[0]:
        return "worse (unpaired CIs)"
    return "no significant difference (unpaired CIs)"


def _first_row(frame: pd.DataFrame, variant: str) -> pd.Series | None:
    """The first row of ``frame`` with the given variant, or ``None``."""
    rows = frame[frame["variant"] == variant]
    return None if rows.empty else rows.iloc[0]


def _describe(label: str, row: pd.Series | None) -> str:
    """``label value [low, high]`` for one variant, escaped."""
    if row is None:
        return f"{_esc(label)} n/a"
    return f"{_esc(label)} {_fmt(row['value'])} " f"[{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]"


def _headline_html(metrics: pd.DataFrame) -> str:
    """One bullet per recommender x slice x k: augmented vs real NDCG@k and a verdict."""
    ndcg = metrics[metrics["metric"] == "ndcg"]
    items: list[str] = []
    for (recommender, slice_, k), group in ndcg.groupby(
        ["recommender", "slice", "k"], sort=False, dropna=False
    ):
        real = _first_row(group, "real")
        aug = _first_row(group, "augmented")
        diff = _first_row(group, DIFF_VARIANT)
        verdict = _verdict(diff, real, aug)
        css = verdict.split(" ")[0] if verdict.split(" ")[0] in ("better", "worse") else ""
        diff_text = "" if diff is None else f"; {_describe('difference', diff)}"
        items.append(
            f"<li><b>{_esc(recommender)}</b>, slice <b>{_esc(slice_)}</b>: "
            f"NDCG@{_fmt_int(k)} {_describe('augmented', aug)} vs {_describe('real', real)}"
            f"{diff_text} &rarr; <span class=\"{css}\">{_esc(verdict)}</span></li>"
        )
    if not items:
        return "<p>No NDCG rows in the metrics.</p>"
    return "<ul>\n" + "\n".join(items) + "\n</ul>"


def _metrics_table_html(metrics: pd.DataFrame) -> str:
    """Every metric row as an HTML table; values and CIs to 4 decimals."""
    header = "".join(f"<th>{_esc(c)}</th>" for c in METRIC_COLUMNS)
    rows: list[str] = []
    for record in metrics[list(METRIC_COLUMNS)].itertuples(index=False):
        (recommender, variant, slice_, metric, k, value, low, high, n_users) = record
        rows.append(
            '<tr class="metric-row">'
            f"<td>{_esc(recommender)}</td><td>{_esc(variant)}</td><td>{_esc(slice_)}</td>"
            f'<td>{_esc(metric)}</td><td class="num">{_fmt_int(k)}</td>'
            f'<td class="num">{_fmt(value)}</td><td class="num">{_fmt(low)}</td>'
            f'<td class="num">{_fmt(high)}</td><td class="num">{_fmt_int(n_users)}</td>'
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
        return "<p>No summary values.</p>"
    rows = "\n".join(
        f"<tr><th>{_esc(key)}</th><td>{_esc(value)}</td></tr>" for key, value in summary.items()
    )
    return f'<table id="summary">\n{rows}\n</table>'


def _grouped_bar_png(metrics: pd.DataFrame, metric: str) -> bytes | None:
    """Render ``metric`` as bars grouped by recommender x slice, one bar per variant.

    The paired-difference variant is left out because it is on another scale (around zero).
    Error bars show the CI where there is one. One panel per ``k``. The figure is built with
    the Agg canvas directly, not pyplot, so no global backend is switched and no figure is
    left open.

    Returns:
        PNG bytes, or ``None`` if there is nothing to plot.
    """
    data = metrics[(metrics["metric"] == metric) & (metrics["variant"] != DIFF_VARIANT)]
    if data.empty:
        return None
    ks = _ordered_unique(data["k"])
    groups = _ordered_unique(zip(data["recommender"], data["slice"], strict=True))
    variants = _ordered_unique(data["variant"])
    width = 0.8 / len(variants)
    x = np.arange(len(groups), dtype=np.float64)

    fig = Figure(figsize=(max(6.0, 1.4 * len(groups) + 2.0), 3.6 * len(ks)), layout="tight")
    FigureCanvasAgg(fig)
    for panel, k in enumerate(ks, start=1):
        ax = fig.add_subplot(len(ks), 1, panel)
        at_k = data[data["k"] == k]
        for i, variant in enumerate(variants):
            values, lower, upper = [], [], []
            for recommender, slice_ in groups:
                match = at_k[
                    (at_k["variant"] == variant)
                    & (at_k["recommender"] == recommender)
                    & (at_k["slice"] == slice_)
                ]
                if match.empty:
                    values.append(np.nan)
                    lower.append(0.0)
                    upper.append(0.0)
                    continue
                row = match.iloc[0]
                value = float(row["value"])
                values.append(value)
                lower.append(_nonneg(value - float(row["ci_low"])))
                upper.append(_nonneg(float(row["ci_high"]) - value))
            offsets = x - 0.4 + width * (i + 0.5)
            ax.bar(offsets, values, width, yerr=[lower, upper], capsize=3, label=str(variant))
        ax.set_xticks(x, [f"{r}\n{s}" for r, s in groups])
        ax.set_ylabel(f"{metric}@{k}")
        ax.set_title(f"{metric}@{k} by recommender and slice")
        ax.legend(title="variant", fontsize="small")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _nonneg(value: float) -> float:
    """An error-bar length: NaN (no CI) and negative (inconsistent CI) become zero."""
    return 0.0 if math.isnan(value) or value < 0 else value


def _plots_html(metrics: pd.DataFrame) -> str:
    """Every available plot as an inline base64 ``<img>``."""
    parts: list[str] = []
    for metric in PLOTTED_METRICS:
        png = _grouped_bar_png(metrics, metric)
        if png is None:
            continue
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<figure><img alt="{_esc(metric)} by recommender and slice" '
            f'src="data:image/png;base64,{encoded}"></figure>'
        )
    return "\n".join(parts) if parts else "<p>No metric rows to plot.</p>"


def write_report(
    out_dir: Path, run_id: str, metrics: pd.DataFrame, summary: dict[str, object]
) -> Path:
    """Write ``out_dir/index.html`` for one evaluation run and return its path.

    The page holds, in order: a headline comparing augmented with real NDCG per recommender and
    slice (better / worse / no significant difference, from the paired-difference CI when a
    ``augmented_minus_real`` row exists), a table of every metric row, grouped bar charts with
    CI error bars, and the run summary. All text is HTML-escaped.

    Args:
        out_dir: Directory to write into; created if missing.
        run_id: Identifier of the run, shown in the title.
        metrics: One row per metric value with columns :data:`METRIC_COLUMNS`.
        summary: Free-form run facts (row counts, timings, paths) shown as a key/value table.

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
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{title}</title>",
            f"<style>{_STYLE}</style>",
            "</head><body>",
            f"<h1>{title}</h1>",
            "<h2>Headline</h2>",
            _headline_html(metrics),
            "<h2>Metrics</h2>",
            _metrics_table_html(metrics),
            "<h2>Plots</h2>",
            _plots_html(metrics),
            "<h2>Summary</h2>",
            _summary_table_html(summary),
            "</body></html>",
            "",
        ]
    )
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
