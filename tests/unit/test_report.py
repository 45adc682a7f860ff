import base64
import re
from pathlib import Path

import pandas as pd
import pytest

from samplegen.evaluate.report import METRIC_COLUMNS, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _metrics() -> pd.DataFrame:
    rows = []
    diffs = {
        ("ease", "all"): (0.02, 0.01, 0.03),  # better
        ("ease", "cold"): (0.01, -0.01, 0.03),  # no significant difference
        ("popularity", "all"): (-0.02, -0.03, -0.01),  # worse
        ("popularity", "cold"): (0.0, -0.005, 0.005),
    }
    for (recommender, slice_), (diff, low, high) in diffs.items():
        n = 1000 if slice_ == "all" else 120
        rows.append((recommender, "real", slice_, "ndcg", 20, 0.30, 0.28, 0.32, n))
        rows.append((recommender, "augmented", slice_, "ndcg", 20, 0.30 + diff, 0.27, 0.34, n))
        rows.append((recommender, "augmented_minus_real", slice_, "ndcg", 20, diff, low, high, n))
        rows.append((recommender, "real", slice_, "recall", 20, 0.123456, 0.1, 0.15, n))
        rows.append((recommender, "augmented", slice_, "recall", 20, 0.2, 0.18, 0.22, n))
    rows.append(("ease", "real", "all", "coverage", 20, 0.5, float("nan"), float("nan"), 1000))
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


def _write(tmp_path: Path, summary: dict[str, object] | None = None) -> tuple[Path, str]:
    metrics = _metrics()
    path = write_report(tmp_path / "nested" / "report", "run-2024-01-01", metrics, summary or {})
    return path, path.read_text(encoding="utf-8")


def test_report_written_with_run_id_and_one_row_per_metric(tmp_path):
    path, page = _write(tmp_path, {"train_rows": 12345})
    assert path == tmp_path / "nested" / "report" / "index.html"
    assert path.exists()
    assert "run-2024-01-01" in page
    assert page.count('<tr class="metric-row">') == len(_metrics())
    assert "0.1235" in page  # 4 decimals
    assert "12345" in page


def test_report_headline_verdicts(tmp_path):
    _, page = _write(tmp_path)
    headline = page.split("<h2>Headline</h2>")[1].split("<h2>")[0]
    items = re.findall(r"<li>(.*?)</li>", headline)
    assert len(items) == 4
    by_key = {
        (re.findall(r"<b>(.*?)</b>", i)[0], re.findall(r"<b>(.*?)</b>", i)[1]): i for i in items
    }
    assert by_key[("ease", "all")].endswith('<span class="better">better</span>')
    assert by_key[("popularity", "all")].endswith('<span class="worse">worse</span>')
    assert "no significant difference" in by_key[("ease", "cold")]
    assert "NDCG@20" in by_key[("ease", "all")]


def test_report_headline_falls_back_to_unpaired_cis(tmp_path):
    metrics = _metrics()
    metrics = metrics[metrics["variant"] != "augmented_minus_real"]
    metrics.loc[(metrics["variant"] == "augmented") & (metrics["metric"] == "ndcg"), "ci_low"] = 0.4
    page = write_report(tmp_path, "r", metrics, {}).read_text(encoding="utf-8")
    assert "better (unpaired CIs)" in page


def test_report_embeds_decodable_png(tmp_path):
    _, page = _write(tmp_path)
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert images, "no inline PNG found"
    for encoded in images:
        assert base64.b64decode(encoded, validate=True).startswith(PNG_SIGNATURE)
    assert "http://" not in page and "https://" not in page


def test_report_escapes_text(tmp_path):
    _, page = _write(tmp_path, {"note": "<script>alert('x')</script>", "path": "/tmp/a&b"})
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "/tmp/a&amp;b" in page
    page = write_report(tmp_path, "<b>id</b>", _metrics(), {}).read_text(encoding="utf-8")
    assert "<b>id</b>" not in page and "&lt;b&gt;id&lt;/b&gt;" in page


def test_report_without_ndcg_rows_still_writes(tmp_path):
    metrics = _metrics()
    metrics = metrics[metrics["metric"] == "coverage"]
    page = write_report(tmp_path, "r", metrics, {}).read_text(encoding="utf-8")
    assert "No NDCG rows" in page
    assert page.count('<tr class="metric-row">') == 1


def test_report_rejects_missing_columns(tmp_path):
    with pytest.raises(ValueError, match="ci_low"):
        write_report(tmp_path, "r", _metrics().drop(columns=["ci_low"]), {})
