"""The stages in order, and the one function every entry point calls to run them."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import SparkSession

from samplegen.config import Config
from samplegen.damage import explained_missing_files
from samplegen.evaluate import run_evaluate
from samplegen.features import run_aggregate
from samplegen.generate import run_generate
from samplegen.runinfo import (
    LOG,
    Progress,
    StageResult,
    finished_stage,
    manifest_path,
    set_aside_damaged_manifest,
    update_manifest,
)
from samplegen.tables import check_store, table_store
from samplegen.train import run_train

StageFn = Callable[[SparkSession, Config, str], StageResult]

STAGES: dict[str, StageFn] = {
    "aggregate": run_aggregate,
    "train": run_train,
    "generate": run_generate,
    "evaluate": run_evaluate,
}


def run_stages(
    spark: SparkSession, cfg: Config, run_id: str, stages: list[str], force: bool = False
) -> list[StageResult]:
    """Run ``stages`` in order for ``run_id``, recording each in the run's manifest.

    A stage the manifest records as finished for this run is skipped (its recorded result is
    returned with status ``skipped``) unless ``force``; so rerunning a failed or killed run
    resumes from the first unfinished stage. A failing stage is recorded as ``failed``.
    A damaged manifest stops the run (:class:`~samplegen.state.DamagedStateError`) unless
    ``force``, which sets it aside first (the forced stages write a new one).
    """
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; known: {', '.join(STAGES)}")
    check_store(spark, table_store(cfg))  # a missing catalog or schema stops before any stage
    if force:
        set_aside_damaged_manifest(cfg.reports_root, run_id)
    results = []
    progress = Progress(len(stages), f"run {run_id}")
    for name in stages:
        done = None if force else finished_stage(cfg.reports_root, run_id, name)
        if done is not None:
            LOG.info(
                "stage=%s run_id=%s event=skip reason=finished (use --force to redo)", name, run_id
            )
            done.status = "skipped"
            results.append(done)
            progress.advance(f"{name} skipped")
            continue
        try:
            with explained_missing_files():  # a lost Delta data file: name it and the repair
                result = STAGES[name](spark, cfg, run_id)
        except Exception as err:
            failed = StageResult(stage=name, run_id=run_id, status="failed")
            failed.metrics = {"error": f"{type(err).__name__}: {err}"}
            update_manifest(cfg.reports_root, run_id, cfg.to_dict(), failed)
            raise
        update_manifest(cfg.reports_root, run_id, cfg.to_dict(), result)
        results.append(result)
        progress.advance(f"{name} {result.status}")
    LOG.info(
        "run_id=%s event=done lakehouse=%s manifest=%s",
        run_id,
        table_store(cfg).where(),
        manifest_path(cfg.reports_root, run_id),
    )
    return results


def run_pipeline(
    spark: SparkSession, cfg: Config, run_id: str, force: bool = False
) -> list[StageResult]:
    """Run aggregate, train, generate and evaluate for ``run_id``."""
    return run_stages(spark, cfg, run_id, list(STAGES), force=force)
