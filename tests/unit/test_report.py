import base64
import dataclasses
import html
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from samplegen.evaluate.explain import Explanation, explain
from samplegen.evaluate.report import ReportData, write_report
from samplegen.evaluate.rows import DIFF_VARIANT, METRIC_COLUMNS
from samplegen.evaluate.verdicts import verdict_lines
from samplegen.models import make_generator

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
K = 20
NAN = float("nan")
EVIL_SLICE = "category:<script>alert('x')</script>"
FIGURE_IDS = (
    "plot-utility-by-slice",
    "plot-utility-diff",
    "plot-dose-response",
    "plot-popularity",
    "plot-basket-size",
    "plot-dcr",
    "plot-user-map",
)
EXPLAIN_TABLES = ("neighbours-table", "category-shift-table", "latent-directions-table")

# (recommender, slice) -> one (diff, ci_low, ci_high) per seed.
DIFFS = {
    ("ease", "all"): [(0.02, 0.01, 0.03)],  # better
    ("ease", "cold"): [(-0.02, -0.03, -0.01)],  # worse
    ("ease", "items_tail"): [(0.01, -0.01, 0.03)],  # no significant difference
    ("ease", EVIL_SLICE): [(0.0, -0.005, 0.005)],
    ("als", "all"): [(0.03, 0.01, 0.05), (0.02, 0.005, 0.04), (0.04, 0.02, 0.06)],  # better
    ("als", "cold"): [(0.02, 0.01, 0.03), (0.0, -0.01, 0.01), (0.01, -0.01, 0.03)],  # 1 of 3
    ("als", "items_tail"): [(-0.02, -0.03, -0.01)] * 3,  # worse
    ("als", EVIL_SLICE): [(0.0, -0.01, 0.01)] * 3,
}


def _row(recommender, variant, slice_, metric, k, value, low=NAN, high=NAN, n=500, seed=NAN):
    return (recommender, variant, slice_, metric, k, value, low, high, n, seed)


def _utility_rows() -> list[tuple]:
    rows = []
    for (recommender, slice_), seeds in DIFFS.items():
        for seed_index, (diff, low, high) in enumerate(seeds):
            seed = seed_index if recommender == "als" else NAN
            real = 0.30 + 0.01 * seed_index
            at = {"n": 500, "seed": seed}
            rows += [
                _row(recommender, "real", slice_, "ndcg", K, real, real - 0.02, real + 0.02, **at),
                _row(recommender, "augmented", slice_, "ndcg", K, real + diff, 0.27, 0.35, **at),
                _row(recommender, DIFF_VARIANT, slice_, "ndcg", K, diff, low, high, **at),
                # Another cutoff, always significant: must not change the NDCG@20 verdict.
                _row(recommender, DIFF_VARIANT, slice_, "ndcg", 10, 0.5, 0.4, 0.6, **at),
                _row(recommender, "real", slice_, "recall", K, 0.123456, 0.1, 0.15, **at),
                _row(recommender, "augmented", slice_, "coverage", K, 0.5, **at),
            ]
    return rows


def _dose_rows() -> list[tuple]:
    rows = []
    for dose, ratio, diff in (("dose=0.25", 0.24, -0.001), ("dose=0.5", 0.51, 0.01)):
        rows.append(_row("ease", dose, "all", "ndcg", K, diff, diff - 0.01, diff + 0.01))
        rows.append(_row("ease", dose, "all", "synthetic_to_real", None, ratio, n=NAN))
    rows.append(_row("ease", "dose=1", "all", "ndcg", K, 0.02, 0.01, 0.03))
    rows.append(_row("ease", "dose=1", "all", "synthetic_to_real", None, 0.98, n=NAN))
    return rows


def _quality_rows() -> list[tuple]:
    fidelity = {"popularity_tvd": 0.12, "basket_size_ks": 0.05, "detection_auc": 0.61}
    privacy = {"dcr_synthetic_median": 3.0, "dcr_holdout_median": 3.5, "mia_auc": 0.52}
    return [_row("fidelity", "vae", "all", m, None, v, n=NAN) for m, v in fidelity.items()] + [
        _row("privacy", "vae", "all", m, None, v, n=NAN) for m, v in privacy.items()
    ]


def _metrics(dose: bool = True) -> pd.DataFrame:
    rows = _utility_rows() + (_dose_rows() if dose else []) + _quality_rows()
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


EXPLAIN_ITEMS = 60
#: Category names with markup and mathtext: escaped on the page, literal on the map legend.
EXPLAIN_CATEGORIES = ["dairy", "<b>produce</b>", "$deli$", *(f"aisle {i}" for i in range(9))]


def _explanation() -> Explanation:
    rng = np.random.default_rng(4)
    item_category = np.arange(EXPLAIN_ITEMS) % len(EXPLAIN_CATEGORIES)
    item_category[-3:] = -1

    def records(n: int, high: int) -> list[np.ndarray]:
        return [
            np.sort(rng.choice(EXPLAIN_ITEMS, rng.integers(2, high), replace=False))
            for _ in range(n)
        ]

    torch.manual_seed(0)
    model = make_generator("multvae", {"n_items": EXPLAIN_ITEMS, "hidden_dims": [16, 6]})
    return explain(
        records(80, 12),
        records(30, 12),
        records(30, 5),
        EXPLAIN_ITEMS,
        item_category,
        EXPLAIN_CATEGORIES,
        seed=0,
        targets={"dairy": 0.25, "tail": 0.4},
        model=model,
    )


def _data() -> ReportData:
    rng = np.random.default_rng(0)
    return ReportData(
        popularity_real=rng.zipf(1.8, 300).astype(float),
        popularity_synthetic=rng.zipf(2.0, 300).astype(float),
        basket_real=rng.poisson(8, 200),
        basket_synthetic=rng.poisson(7, 250),
        dcr_synthetic=rng.gamma(3.0, 1.0, 400),
        dcr_holdout=rng.gamma(3.5, 1.0, 100),
        explanation=_explanation(),
    )


def _write(tmp_path: Path, summary=None, data=None, metrics=None) -> tuple[Path, str]:
    path = write_report(
        tmp_path / "nested" / "report",
        "run-2024-01-01",
        _metrics() if metrics is None else metrics,
        summary or {},
        K,
        _data() if data is None else data,
    )
    return path, path.read_text(encoding="utf-8")


def _section(page: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', page, re.S)
    assert match, f"no section {section_id}"
    return match.group(1)


def _line(lines: list[str], recommender: str, slice_: str) -> str:
    (line,) = [x for x in lines if x.startswith(f"{recommender} slice={slice_} ")]
    return line


def test_verdict_lines_words_and_values():
    lines = verdict_lines(_metrics(), K)
    assert len(lines) == len(DIFFS)
    assert _line(lines, "ease", "all") == (
        "ease slice=all NDCG@20 real=0.3000 augmented=0.3200 diff=+0.0200 "
        "[+0.0100, +0.0300]: augmented is better"
    )
    assert _line(lines, "ease", "cold").endswith(": augmented is worse")
    assert _line(lines, "ease", "items_tail").endswith(": no significant difference")
    assert _line(lines, "als", "items_tail").endswith("(3 seeds): augmented is worse")
    assert all("<" not in x or EVIL_SLICE in x for x in lines)  # plain text, no markup added


def test_verdict_lines_average_seeds_and_report_mixed_significance():
    lines = verdict_lines(_metrics(), K)
    als_all = _line(lines, "als", "all")
    # Means over seeds: real 0.31, diff 0.03; the bracket spans every seed's CI.
    assert "real=0.3100 augmented=0.3400 diff=+0.0300 [+0.0050, +0.0600] (3 seeds)" in als_all
    assert als_all.endswith(": augmented is better")
    assert _line(lines, "als", "cold").endswith(
        ": no significant difference (significant in 1 of 3 seeds)"
    )
    assert _line(lines, "als", EVIL_SLICE).endswith(": no significant difference")


def test_verdict_lines_put_slice_all_first():
    lines = verdict_lines(_metrics(), K)
    assert [x.split(" NDCG")[0] for x in lines[:2]] == ["ease slice=all", "als slice=all"]
    assert all("slice=all " not in x for x in lines[2:])


def test_verdict_lines_use_the_given_cutoff_only():
    lines = verdict_lines(_metrics(), 10)
    assert len(lines) == len(DIFFS)
    assert all("NDCG@10" in x and x.endswith("augmented is better") for x in lines)
    assert verdict_lines(_metrics(), 50) == []


def test_verdict_without_ci_is_undetermined():
    metrics = _metrics()
    metrics.loc[metrics["variant"] == DIFF_VARIANT, ["ci_low", "ci_high"]] = None
    lines = verdict_lines(metrics, K)
    assert all(x.endswith("undetermined (no CI)") for x in lines)


def test_report_verdict_section(tmp_path):
    _, page = _write(tmp_path)
    assert page.index('<section id="verdict">') < page.index('<section id="utility">')
    verdict = _section(page, "verdict")
    assert (
        "Augmented data wins on 2 of 8 recommender x slice comparisons at NDCG@20, "
        "loses on 2, no significant difference on 4. Each CI is 95% on its own, so about 0.4 of 8 "
        "comparisons would look significant by chance alone."
    ) in verdict
    items = re.findall(r'<li class="(\w+)">(.*?)</li>', verdict)
    assert len(items) == len(DIFFS)
    classes = [c for c, text in items if text.startswith("ease slice=all ")]
    assert classes == ["better"]
    assert sum(c == "worse" for c, _ in items) == 2
    assert sum(c == "same" for c, _ in items) == 4


def test_report_sections_in_order(tmp_path):
    _, page = _write(tmp_path)
    ids = re.findall(r'<section id="([\w-]+)">', page)
    assert ids == [
        "verdict",
        "strategies",
        "utility",
        "items-new",
        "sequences",
        "dose-response",
        "fidelity",
        "privacy",
        "explain",
        "all-metrics",
        "run-summary",
    ]
    nav = re.findall(r'<a href="#([\w-]+)">', page)
    assert nav == ids


def test_report_embeds_every_figure_as_decodable_png(tmp_path):
    _, page = _write(tmp_path)
    for figure_id in FIGURE_IDS:
        match = re.search(
            rf'<figure id="{figure_id}"><img alt="([^"]+)" '
            r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"><figcaption>[^<]+</figcaption>',
            page,
        )
        assert match, f"figure {figure_id} missing or malformed"
        assert base64.b64decode(match.group(2), validate=True).startswith(PNG_SIGNATURE)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page
    assert len(page) < 2_000_000


def test_report_size_with_many_slices_and_recommenders(tmp_path):
    slices = ["all", "cold", "activity_q2", "activity_q3", "activity_q4"]
    slices += ["items_head", "items_torso", "items_tail", "category:a", "category:b"]
    rows = []
    for recommender in ("popularity", "ease", "als", "multvae"):
        seeds = (0, 1, 2) if recommender in ("als", "multvae") else (NAN,)
        for slice_ in slices:
            for seed in seeds:
                for variant, value in (("real", 0.3), ("augmented", 0.31), (DIFF_VARIANT, 0.01)):
                    for metric in ("recall", "ndcg", "coverage"):
                        for k in (10, 20, 50):
                            rows.append(
                                _row(
                                    recommender, variant, slice_, metric, k, value, 0, 0.6, 9, seed
                                )
                            )
    metrics = pd.DataFrame(rows + _dose_rows() + _quality_rows(), columns=list(METRIC_COLUMNS))
    _, page = _write(tmp_path, metrics=metrics)
    assert page.count('<tr class="metric-row">') == len(metrics)
    assert len(page.encode("utf-8")) < 2_000_000


def test_report_table_has_every_row_and_seed(tmp_path):
    path, page = _write(tmp_path, {"train_rows": 12345})
    assert path == tmp_path / "nested" / "report" / "index.html"
    assert "run-2024-01-01" in page
    table = _section(page, "all-metrics")
    assert table.count('<tr class="metric-row">') == len(_metrics())
    assert "<th>seed</th>" in table
    assert "0.1235" in table  # 4 decimals
    assert "12345" in _section(page, "run-summary")
    als_rows = re.findall(r'<tr class="metric-row"><td>als</td>.*?</tr>', table)
    assert {re.findall(r'<td class="num">([^<]*)</td>', r)[-1] for r in als_rows} == {"0", "1", "2"}


def test_report_fidelity_and_privacy_tables(tmp_path):
    _, page = _write(tmp_path)
    fidelity = _section(page, "fidelity")
    assert "<td>popularity_tvd</td>" in fidelity and "0.1200" in fidelity
    assert "<td>mia_auc</td>" in _section(page, "privacy")
    assert "mia_auc" not in fidelity


def test_report_escapes_text(tmp_path):
    _, page = _write(tmp_path, {"note": "<script>alert('x')</script>", "path": "/tmp/a&b"})
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "category:&lt;script&gt;" in _section(page, "verdict")
    assert "/tmp/a&amp;b" in page
    page = write_report(tmp_path, "<b>id</b>", _metrics(), {}, K).read_text(encoding="utf-8")
    assert "<b>id</b>" not in page and "&lt;b&gt;id&lt;/b&gt;" in page


def test_report_skips_data_plots_without_report_data(tmp_path):
    page = write_report(tmp_path, "r", _metrics(), {}, K).read_text(encoding="utf-8")
    for figure_id in ("plot-popularity", "plot-basket-size", "plot-dcr"):
        assert f'id="{figure_id}"' not in page
    assert "no popularity plot" in _section(page, "fidelity")
    assert "no basket-size plot" in _section(page, "fidelity")
    assert "no DCR plot" in _section(page, "privacy")
    assert 'id="plot-utility-by-slice"' in page and 'id="plot-dose-response"' in page


def test_report_skips_partial_or_empty_arrays(tmp_path):
    data = ReportData(
        popularity_real=np.array([3.0, 1.0]),
        basket_real=np.array([]),
        basket_synthetic=np.array([2, 3]),
        dcr_synthetic=np.array([NAN, math.inf]),
        dcr_holdout=np.array([1.0]),
    )
    _, page = _write(tmp_path, data=data)
    for figure_id in ("plot-popularity", "plot-basket-size", "plot-dcr"):
        assert f'id="{figure_id}"' not in page


def test_report_skips_dose_plot_without_dose_rows(tmp_path):
    _, page = _write(tmp_path, metrics=_metrics(dose=False))
    assert 'id="plot-dose-response"' not in page
    assert "no dose plot" in _section(page, "dose-response")


def test_dose_plot_falls_back_to_dose_number_without_ratio_rows(tmp_path):
    metrics = _metrics()
    metrics = metrics[metrics["metric"] != "synthetic_to_real"]
    _, page = _write(tmp_path, metrics=metrics)
    assert 'id="plot-dose-response"' in page


def test_dose_plot_of_ctr_classifiers_draws_auc_on_all_test_rows():
    """A CTR run's dose rows are AUC (and other metric) differences per slice: the plot
    draws AUC on the ``all`` slice, with the synthetic : real train row ratio as x."""
    from samplegen.evaluate import plots

    rows = []
    for dose, ratio, diff in (("dose=0.5", 0.1, 0.004), ("dose=1", 0.2, 0.008)):
        for slice_, shift in (("all", 0.0), ("cold_users", 0.5)):
            for metric, value in (("auc", diff + shift), ("logloss", -diff)):
                rows.append(
                    _row("logreg", dose, slice_, metric, None, value, value - 0.01, value + 0.01)
                )
        rows.append(_row("logreg", dose, "all", "synthetic_to_real", None, ratio, n=NAN))
    metrics = pd.DataFrame(rows + _ctr_rows(), columns=list(METRIC_COLUMNS))
    points, use_ratio = plots.dose_points(metrics, K)
    assert use_ratio and plots.dose_title(metrics, K) == "AUC"
    assert points[["x", "value"]].values.tolist() == [[0.1, 0.004], [0.2, 0.008]]
    assert set(points["unit"]) == {"train rows"}
    assert plots.dose_png(points, use_ratio, K).startswith(PNG_SIGNATURE)
    # A recommender run keeps its NDCG@k plot.
    assert plots.dose_title(_metrics(), K) == f"NDCG@{K}"


def test_report_without_ndcg_rows_still_writes(tmp_path):
    metrics = _metrics()
    metrics = metrics[metrics["metric"] == "coverage"]
    page = write_report(tmp_path, "r", metrics, {}, K).read_text(encoding="utf-8")
    assert "No paired NDCG@20 comparisons" in _section(page, "verdict")
    assert 'id="plot-utility-by-slice"' not in page
    assert page.count('<tr class="metric-row">') == len(metrics)


@pytest.mark.parametrize("column", ["ci_low", "seed"])
def test_report_rejects_missing_columns(tmp_path, column):
    with pytest.raises(ValueError, match=column):
        write_report(tmp_path, "r", _metrics().drop(columns=[column]), {}, K)


def test_report_plots_dollar_signs_literally(tmp_path):
    metrics = _metrics()
    metrics["slice"] = metrics["slice"].replace(EVIL_SLICE, "category:$5 & $10 ^{x}")
    metrics["recommender"] = metrics["recommender"].replace("als", "$als$")
    _, page = _write(tmp_path, metrics=metrics)  # matplotlib would fail on bad mathtext
    assert "category:$5 &amp; $10 ^{x}" in _section(page, "verdict")
    assert 'id="plot-utility-diff"' in page


def test_report_accepts_object_columns_with_none(tmp_path):
    # As built from row dicts: None (not NaN) for missing k, CIs, n_users and seeds.
    metrics = _metrics().astype(object)
    metrics = metrics.where(metrics.notna(), None)
    assert metrics["seed"].isna().any() and metrics["k"].dtype == object
    assert verdict_lines(metrics, K) == verdict_lines(_metrics(), K)
    _, page = _write(tmp_path, metrics=metrics)
    for figure_id in FIGURE_IDS:
        assert f'<figure id="{figure_id}">' in page


def test_strategies_table_puts_other_runs_next_to_this_one(tmp_path):
    other = _metrics().copy()
    other.loc[(other["variant"] == DIFF_VARIANT) & (other["k"] == K), ["ci_low", "ci_high"]] = (
        -0.05,
        -0.04,
    )  # every comparison of the other run is worse
    data = _data()
    data.strategy = "this-run (densify)"
    data.other_runs = {"base-run (substitute)": other}
    _, page = _write(tmp_path, data=data)
    table = _section(page, "strategies").split("</table>")[0]
    assert "this-run (densify)" in table and "base-run (substitute)" in table
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td>(.*?)</tr>", table)
    assert {(r, s) for r, s, _ in rows} == {
        ("ease", "all"),
        ("ease", "cold"),
        ("als", "all"),
        ("als", "cold"),
    }
    cells = {(r, s): re.findall(r'<td class="num (\w+)">', rest) for r, s, rest in rows}
    assert cells[("ease", "all")] == ["better", "worse"]
    assert cells[("als", "cold")] == ["same", "worse"]


def _sequence_rows(short_diff: tuple[float, float, float]) -> list[tuple]:
    """sasrec NDCG@10 rows on all and two history-length slices; short_history's diff given."""
    rows = []
    diffs = {"all": (0.0, -0.01, 0.01), "short_history": short_diff, "history_6_10": (0.0, -1, 1)}
    for slice_, (diff, low, high) in diffs.items():
        rows += [
            _row("sasrec", "real", slice_, "ndcg", 10, 0.2, 0.18, 0.22, n=300, seed=11),
            _row("sasrec", "augmented", slice_, "ndcg", 10, 0.2 + diff, 0.1, 0.3, n=300, seed=11),
            _row("sasrec", DIFF_VARIANT, slice_, "ndcg", 10, diff, low, high, n=300, seed=11),
            _row("sasrec", DIFF_VARIANT, slice_, "hr", 10, 0.9, 0.8, 1.0, n=300, seed=11),
        ]
    return rows


def test_sequences_section_shows_each_history_length_per_run_and_the_short_history_verdict(
    tmp_path,
):
    this = pd.concat(
        [_metrics(), pd.DataFrame(_sequence_rows((0.03, 0.02, 0.04)), columns=list(METRIC_COLUMNS))]
    )
    other = pd.DataFrame(_sequence_rows((-0.03, -0.04, -0.02)), columns=list(METRIC_COLUMNS))
    data = _data()
    data.strategy = "this-run (prepend)"
    data.other_runs = {"base-run (crop)": other}
    _, page = _write(tmp_path, data=data, metrics=this)
    section = _section(page, "sequences")
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>(.*?)</tr>", section)
    assert [(run, r, s) for run, r, s, _ in rows] == [
        (run, "sasrec", s)
        for run in ("this-run (prepend)", "base-run (crop)")
        for s in ("all", "short_history", "history_6_10")
    ]
    outcomes = [re.findall(r'<td class="num (\w+)">', rest)[0] for *_, rest in rows]
    assert outcomes == ["same", "better", "same", "same", "worse", "same"]
    (line,) = re.findall(r'<p class="sequence-verdict better">(.*?)</p>', section)
    assert line.startswith("sasrec slice=short_history NDCG@10 real=0.2000 augmented=0.2300")
    assert "NDCG@10" in section and "ease" not in section  # only sequential recommenders
    # Without sequential rows the section says how to get them.
    _, plain_page = _write(tmp_path / "plain")
    assert "add sasrec to evaluate.recommenders" in _section(plain_page, "sequences")


def test_strategies_section_says_when_there_is_only_this_run(tmp_path):
    _, page = _write(tmp_path)
    assert "evaluate.other_runs" in _section(page, "strategies")


def test_report_explain_section_has_the_map_and_three_tables(tmp_path):
    _, page = _write(tmp_path)
    section = _section(page, "explain")
    assert "<h2>What the generator learned</h2>" in section
    assert '<figure id="plot-user-map">' in section
    for table_id in EXPLAIN_TABLES:
        assert f'<table id="{table_id}">' in section
    neighbours = section.split('id="neighbours-table"')[1].split("</table>")[0]
    assert neighbours.count("<tr>") == 1 + 10  # header + the sampled synthetic records
    shift = section.split('id="category-shift-table"')[1].split("</table>")[0]
    assert "<td>dairy</td>" in shift and "<td>&lt;b&gt;produce&lt;/b&gt;</td>" in shift
    assert "<b>produce</b>" not in page
    dairy = re.search(r"<tr><td>dairy</td>(.*?)</tr>", shift).group(1)
    assert re.findall(r'<td class="num">([^<]*)</td>', dairy)[-1] == "0.2500"
    other = re.search(r"<tr><td>aisle 0</td>(.*?)</tr>", shift).group(1)
    assert other.endswith('<td class="num">\u2014</td>')  # no target for this category
    assert "tail 0.4000" in section  # a target that is not a category
    latent = section.split('id="latent-directions-table"')[1].split("</table>")[0]
    assert latent.count("<tr>") == 1 + 4  # header + four directions


def test_report_explain_section_notes_each_missing_part(tmp_path):
    data = _data()
    data.explanation = None
    _, page = _write(tmp_path, data=data)
    section = _section(page, "explain")
    assert 'id="plot-user-map"' not in section and "<table" not in section
    assert section.count('<p class="note">') == 4
    for words in ("no user map", "no neighbours", "no category shift", "no latent directions"):
        assert words in section
    explanation = _explanation()
    explanation.latent = None
    explanation.notes["latent"] = "The run's model (gan) has no VAE latent space to read."
    explanation.neighbours = None
    data.explanation = explanation
    _, page = _write(tmp_path, data=data)
    section = _section(page, "explain")
    assert '<figure id="plot-user-map">' in section
    assert 'id="category-shift-table"' in section
    assert 'id="latent-directions-table"' not in section and 'id="neighbours-table"' not in section
    assert "model (gan) has no VAE latent space" in section
    assert "no neighbours" in section
    without_data = write_report(tmp_path / "bare", "r", _metrics(), {}, K).read_text("utf-8")
    assert _section(without_data, "explain").count('<p class="note">') == 4


def test_eval_row_matches_the_eval_metrics_table():
    from samplegen.evaluate.rows import RUN_COLUMNS, EvalRow, frame
    from samplegen.tables import EVAL_METRICS

    assert set(METRIC_COLUMNS) | set(RUN_COLUMNS) == set(EVAL_METRICS.schema.fieldNames())
    rows = frame([EvalRow("ease", "real", "all", "ndcg", K, 0.3, 0.2, 0.4, 10, 1)])
    assert list(rows.columns) == list(METRIC_COLUMNS) and rows["n_users"].iloc[0] == 10


def test_verdicts_are_structured_and_their_lines_rendered_from_them():
    from samplegen.evaluate.verdicts import outcome_counts, verdicts

    found = verdicts(_metrics(), K)
    assert [v.line for v in found] == verdict_lines(_metrics(), K)
    (als_cold,) = [v for v in found if (v.recommender, v.slice) == ("als", "cold")]
    assert (als_cold.outcome, als_cold.n_seeds, als_cold.n_significant) == ("same", 3, 1)
    assert als_cold.diff == pytest.approx(0.01)
    assert outcome_counts(found) == {"better": 2, "worse": 2, "same": 4, "undetermined": 0}


# --- ranking models (CTR classifiers) ---------------------------------------------------------

CTR_FIGURE_IDS = ("plot-ctr-diff", "plot-ctr-roc-pr", "plot-ctr-calibration")
CTR_BASE = {"auc": 0.8, "pr_auc": 0.4, "logloss": 0.3, "ece": 0.05}
CTR_MIN_USERS = 50


def _ctr_rows() -> list[tuple]:
    """logreg on a well-populated slice and a thin one: real, augmented (+0.01 on every
    metric, CI above zero) and class weights (+0.02, augmented - class_weight's CI spans 0)."""
    rows = []
    for slice_, n in (("all", 400), ("cold_users", 5)):
        at = {"n": n, "seed": 7}
        for step, variant in enumerate(("real", "augmented", "class_weight")):
            for metric, base in CTR_BASE.items():
                value = base + 0.01 * step
                rows.append(
                    _row(
                        "logreg",
                        variant,
                        slice_,
                        metric,
                        None,
                        value,
                        value - 0.02,
                        value + 0.02,
                        **at,
                    )
                )
        for variant, diff, low, high, p in (
            ("augmented_minus_real", 0.01, 0.002, 0.018, 0.02),
            ("augmented_minus_class_weight", -0.01, -0.03, 0.01, 0.31),
        ):
            for metric in CTR_BASE:
                rows.append(_row("logreg", variant, slice_, metric, None, diff, low, high, **at))
                rows.append(_row("logreg", variant, slice_, f"{metric}_p_value", None, p, **at))
    return rows


def _ctr_metrics() -> pd.DataFrame:
    return pd.DataFrame(_ctr_rows(), columns=list(METRIC_COLUMNS))


def _ctr_curves() -> dict:
    from samplegen.evaluate.ctr_curves import score_curves

    rng = np.random.default_rng(5)
    labels = (rng.random(600) < 0.2).astype(int)
    noise = rng.normal(0, 0.15, (2, 600))
    return {
        ("logreg", variant): score_curves(labels, np.clip(0.2 + 0.3 * labels + e, 0.01, 0.99))
        for variant, e in zip(("real", "augmented"), noise, strict=True)
    }


def _ctr_page(tmp_path: Path, curves: dict | None) -> str:
    data = ReportData(ctr_curves=curves) if curves is not None else None
    path = write_report(tmp_path, "ctr-run", _ctr_metrics(), {}, K, data, CTR_MIN_USERS)
    return path.read_text(encoding="utf-8")


def _cells(section: str, *first: str) -> list[tuple[str, str]]:
    """(class, text) of the cells of the ranking-table row starting with ``first``."""
    start = "".join(f"<td>{html.escape(text)}</td>" for text in first)
    (row,) = re.findall(rf"<tr>{re.escape(start)}(.*?)</tr>", section)
    return re.findall(r'<td class="([\w ]+)">([^<]*)</td>', row)


def test_ranking_section_shows_verdicts_the_table_with_cis_and_every_figure(tmp_path):
    page = _ctr_page(tmp_path, _ctr_curves())
    ids = re.findall(r'<section id="([\w-]+)">', page)
    assert ids[:3] == ["verdict", "ranking-models", "strategies"]
    assert re.findall(r'<a href="#([\w-]+)">', page) == ids
    assert "under Ranking models" in _section(page, "verdict")  # no NDCG verdict for a CTR run
    section = _section(page, "ranking-models")
    items = re.findall(r'<li class="(\w+)">(.*?)</li>', section)
    assert items == [
        (
            "better",
            "logreg slice=all AUC real=0.8000 augmented=0.8100 diff=+0.0100 "
            "[+0.0020, +0.0180]: augmented is better",
        ),
        (
            "same",
            "logreg slice=all AUC class_weight=0.8200 augmented=0.8100 diff=-0.0100 "
            "[-0.0300, +0.0100]: no significant difference",
        ),
        (
            "undetermined",
            "logreg slice=cold_users AUC real=0.8000 augmented=0.8100 diff=+0.0100: "
            f"too few users (n=5, evaluate.min_users={CTR_MIN_USERS})",
        ),
        (
            "undetermined",
            "logreg slice=cold_users AUC class_weight=0.8200 augmented=0.8100 diff=-0.0100: "
            f"too few users (n=5, evaluate.min_users={CTR_MIN_USERS})",
        ),
    ]
    table = section.split('<table id="ranking-table">')[1].split("</table>")[0]
    header = re.findall(r"<th>([^<]*)</th>", table)
    assert header == [
        "classifier", "slice", "variant", "users", "AUC [95% CI]", "PR-AUC [95% CI]",
        "log loss [95% CI]", "ECE [95% CI]", "p (AUC diff)",
    ]  # fmt: skip
    assert table.count("<tr>") == 1 + 2 * 5  # header; per slice 3 variants and 2 differences
    assert _cells(table, "logreg", "all", "real") == [
        ("num", "400"),
        ("num", "0.8000 [0.7800, 0.8200]"),
        ("num", "0.4000 [0.3800, 0.4200]"),
        ("num", "0.3000 [0.2800, 0.3200]"),
        ("num", "0.0500 [0.0300, 0.0700]"),
        ("num", "\u2014"),
    ]
    # Augmented - real: +0.01 with the CI above zero is better for AUC and PR-AUC but worse
    # for log loss and ECE (lower is better there).
    diff = "+0.0100 [+0.0020, +0.0180]"
    assert _cells(table, "logreg", "all", "augmented - real") == [
        ("num", "400"),
        ("num better", diff),
        ("num better", diff),
        ("num worse", diff),
        ("num worse", diff),
        ("num", "0.0200"),
    ]
    spans_zero = _cells(table, "logreg", "all", "augmented - class_weight")
    assert {cls for cls, _ in spans_zero} == {"num"} and spans_zero[-1][1] == "0.3100"
    thin = _cells(table, "logreg", "cold_users", "augmented - real")  # 5 users: no colour
    assert {cls for cls, _ in thin} == {"num"} and thin[1][1] == diff
    for figure_id in CTR_FIGURE_IDS:
        match = re.search(
            rf'<figure id="{figure_id}"><img alt="[^"]+" '
            r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"><figcaption>',
            section,
        )
        assert match, figure_id
        assert base64.b64decode(match.group(1), validate=True).startswith(PNG_SIGNATURE)


def test_ranking_table_shows_doses_as_differences_and_each_slices_positive_share():
    from samplegen.evaluate.ranking import ranking_table

    extra = [_row("logreg", "test_rows", "all", "label_share", None, 0.125, n=400)]
    for metric in CTR_BASE:
        extra.append(_row("logreg", "dose=0.5", "all", metric, None, 0.01, 0.002, 0.018, n=400))
    extra.append(_row("logreg", "dose=0.5", "all", "synthetic_to_real", None, 0.1, n=NAN))
    rows = pd.DataFrame(_ctr_rows() + extra, columns=list(METRIC_COLUMNS))
    table = ranking_table(rows, CTR_MIN_USERS)
    assert table.header[3:5] == ["users", "positive share"]
    by_variant = {(r[1].text, r[2].text): r for r in table.rows}
    assert ("all", "test_rows") not in by_variant  # the share is a column, not a row
    dose = by_variant[("all", "dose=0.5 - real")]
    assert [c.text for c in dose[3:6]] == ["400", "0.1250", "+0.0100 [+0.0020, +0.0180]"]
    assert dose[5].cls == "num better" and dose[7].cls == "num worse"  # AUC up; log loss up
    assert by_variant[("cold_users", "real")][4].text == "\u2014"  # no share row for it
    assert [v for s, v in by_variant if s == "all"][-1] == "dose=0.5 - real"  # after the diffs


def test_ranking_section_without_curves_keeps_the_rows_and_notes_the_curves(tmp_path):
    section = _section(_ctr_page(tmp_path, None), "ranking-models")
    assert '<figure id="plot-ctr-diff">' in section and 'id="ranking-table"' in section
    assert "plot-ctr-roc-pr" not in section and "plot-ctr-calibration" not in section
    assert "no ROC or precision-recall plot" in section and "no calibration plot" in section


def test_ranking_section_is_absent_for_a_run_without_classifier_rows(tmp_path):
    # Recommender, dose, fidelity and privacy rows; curves alone do not make a section.
    data = ReportData(ctr_curves=_ctr_curves())
    page = write_report(tmp_path, "r", _metrics(), {}, K, data).read_text("utf-8")
    assert 'id="ranking-models"' not in page and 'href="#ranking-models"' not in page
    assert "under Ranking models" not in page and "plot-ctr" not in page
    assert '<section id="verdict">' in page and 'id="ranking-table"' not in page


def test_ctr_verdicts_read_back_from_the_metrics_frame_are_the_same():
    from samplegen.evaluate.ctr import ctr_verdicts
    from samplegen.evaluate.rows import EvalRow, frame, rows_of

    rows = [EvalRow(*r) for r in _ctr_rows()]
    rows = [dataclasses.replace(r, seed=int(r.seed), n_users=int(r.n_users)) for r in rows]
    rows = [dataclasses.replace(r, ci_low=None, ci_high=None) if math.isnan(r.ci_low) else r
            for r in rows]  # fmt: skip
    assert rows_of(frame(rows)) == rows
    assert ctr_verdicts(rows_of(_ctr_metrics()), CTR_MIN_USERS) == ctr_verdicts(rows, CTR_MIN_USERS)
    # A difference without its CI (NaN in the frame) is undetermined, not "no difference".
    metrics = _ctr_metrics()
    metrics.loc[metrics["variant"] == "augmented_minus_real", ["ci_low", "ci_high"]] = NAN
    first = ctr_verdicts(rows_of(metrics), CTR_MIN_USERS)[0]
    assert first.outcome == "undetermined" and first.line.endswith(
        "no confidence interval " "(a label is missing from the slice)"
    )
