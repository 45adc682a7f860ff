"""The stages in order, and the one function every entry point calls to run them."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import SparkSession

from samplegen.config import Config
from samplegen.evaluate import run_evaluate
from samplegen.features import run_aggregate
from samplegen.generate import run_generate
from samplegen.runinfo import LOG, StageResult, update_manifest
from samplegen.train import run_train

StageFn = Callable[[SparkSession, Config, str], StageResult]

STAGES: dict[str, StageFn] = {
    "aggregate": run_aggregate,
    "train": run_train,
    "generate": run_generate,
    "evaluate": run_evaluate,
}


def run_stages(
    spark: SparkSession, cfg: Config, run_id: str, stages: list[str]
) -> list[StageResult]:
    """Run ``stages`` in order for ``run_id``; each result goes into the run's manifest."""
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; known: {', '.join(STAGES)}")
    results = []
    for name in stages:
        result = STAGES[name](spark, cfg, run_id)
        manifest = update_manifest(cfg.reports_root, run_id, cfg.to_dict(), result)
        results.append(result)
    LOG.info("run_id=%s event=done lakehouse=%s manifest=%s", run_id, cfg.lakehouse, manifest)
    return results


def run_pipeline(spark: SparkSession, cfg: Config, run_id: str) -> list[StageResult]:
    """Aggregate -> train -> generate -> evaluate for ``run_id``."""
    return run_stages(spark, cfg, run_id, list(STAGES))
