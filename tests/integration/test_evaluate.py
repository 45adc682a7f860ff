import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from samplegen.evaluate import RECOMMENDERS, VARIANTS
from samplegen.tables import EVAL_METRICS, read_table
from tests.conftest import RUN_ID

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_eval_metrics_cover_every_combination(spark, cfg, pipeline_run):
    rows = read_table(spark, cfg.lakehouse, EVAL_METRICS).where(F.col("run_id") == RUN_ID).collect()
    keys = {(r.recommender, r.variant, r.slice, r.metric) for r in rows}
    for recommender in RECOMMENDERS:
        for variant in VARIANTS:
            for slice_name in ("all", "cold"):
                for metric in ("recall", "ndcg", "coverage"):
                    assert (recommender, variant, slice_name, metric) in keys
            assert (recommender, "augmented_minus_real", "all", "ndcg") in keys
    for row in rows:
        assert row.k == cfg.evaluate.k
        assert row.dataset == "completejourney"
        if row.variant in VARIANTS:
            assert 0.0 <= row.value <= 1.0
        if row.ci_low is not None and row.metric != "coverage":
            assert row.ci_low <= row.value <= row.ci_high


def test_ease_beats_popularity_on_real_data(spark, cfg, pipeline_run):
    rows = (
        read_table(spark, cfg.lakehouse, EVAL_METRICS)
        .where(
            (F.col("run_id") == RUN_ID)
            & (F.col("variant") == "real")
            & (F.col("slice") == "all")
            & (F.col("metric") == "recall")
        )
        .collect()
    )
    recall = {r.recommender: r.value for r in rows}
    assert recall["ease"] > recall["popularity"]


def test_report_and_manifest_are_written(cfg, pipeline_run):
    report = Path(pipeline_run["evaluate"].outputs["report"])
    html = report.read_text()
    assert RUN_ID in html
    assert "data:image/png;base64," in html
    assert "NDCG" in html
    manifest = json.loads((Path(cfg.reports_root) / RUN_ID / "manifest.json").read_text())
    assert set(manifest["stages"]) == {"aggregate", "train", "generate", "evaluate"}
    assert manifest["versions"]["pyspark"].startswith("4.0")
    assert manifest["config"]["train"]["num_processes"] == 2
    assert manifest["stages"]["aggregate"]["rows"]["raw_events"] > 0
