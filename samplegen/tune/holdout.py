"""The chosen recipe, generated once and scored once on test, as an ordinary run.

``samplegen tune --then-run RUN_ID`` ends here: the recipe's params laid over the config
(as ``samplegen run --recipe`` would), stage 3 draws its rows under ``RUN_ID`` from the tuned
run's trained models (as the trials do), and stage 4 scores them on test as usual, so
``eval_metrics`` holds ``RUN_ID``'s test rows with paired CIs. Before stage 4, ``RUN_ID``'s
manifest gets a ``recipe`` stage naming the tuned run, the recipe file and the trial: the
recipe was chosen on valid; the report reads it to show the search.

When the search recommends not augmenting (no trial beats real-only on valid), the test run
is not done unless forced: scoring a recipe the search already rejected invites reading the
test split until something looks good.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession

from samplegen.config import Config
from samplegen.evaluate import run_evaluate
from samplegen.evaluate.search import RECIPE_STAGE
from samplegen.generate import run_generate
from samplegen.ids import check_identifier
from samplegen.runinfo import LOG, StageResult, update_manifest
from samplegen.tune.space import apply

__all__ = ["score_on_test", "skip_reason"]


def skip_reason(search: StageResult, force: bool) -> str | None:
    """Why the recipe of ``search`` (a ``tune`` result) gets no test run; ``None``: it does."""
    outcome = search.metrics
    if "best_params" not in outcome:
        return "the search chose no recipe (no feasible finished trial), so there is no test run"
    if not outcome.get("beats_real") and not force:
        return (
            "the search recommends not augmenting, so the recipe is not scored on test "
            "(--force-test scores it anyway)"
        )
    return None


def score_on_test(
    spark: SparkSession,
    cfg: Config,
    search: StageResult,
    test_run: str,
    force: bool = False,
) -> list[StageResult]:
    """Generate ``search``'s recipe under ``test_run`` and run stage 4 on test; the results.

    Returns an empty list (and logs why) when :func:`skip_reason` says no. Each stage is
    recorded in ``test_run``'s manifest, as ``samplegen run`` records its stages.
    """
    check_identifier(test_run, "--then-run")
    if test_run == search.run_id:
        raise ValueError(f"--then-run {test_run!r} must differ from the tuned run")
    reason = skip_reason(search, force)
    if reason is not None:
        LOG.info("tune run_id=%s test_run=%s skipped: %s", search.run_id, test_run, reason)
        return []
    outcome = search.metrics
    chosen = apply(cfg, outcome["best_params"])
    config = chosen.to_dict()
    generated = run_generate(spark, chosen, test_run, model_run=search.run_id)
    update_manifest(chosen.reports_root, test_run, config, generated)
    update_manifest(chosen.reports_root, test_run, config, recipe_stage(search, test_run))
    try:
        evaluated = run_evaluate(spark, chosen, test_run)
    except Exception as err:
        failed = StageResult(stage="evaluate", run_id=test_run, status="failed")
        failed.metrics = {"error": f"{type(err).__name__}: {err}"}
        update_manifest(chosen.reports_root, test_run, config, failed)
        raise
    update_manifest(chosen.reports_root, test_run, config, evaluated)
    return [generated, evaluated]


def recipe_stage(search: StageResult, test_run: str) -> StageResult:
    """The ``recipe`` stage of the test run's manifest: where its recipe came from."""
    outcome: dict[str, Any] = search.metrics
    trials = outcome["trials"]
    stage = StageResult(stage=RECIPE_STAGE, run_id=test_run)
    stage.metrics = {
        "chosen_on": "valid",
        "tuned_run": search.run_id,
        "recipe": outcome["recipe"],
        "trial": outcome["best_trial"],
        "trials": sum(trials.values()),
        "params": outcome["best_params"],
        "target": outcome["target"],
        "slice": outcome["slice"],
        "k": outcome["k"],
        "forced": not outcome.get("beats_real", False),
    }
    stage.outputs = {"recipe": outcome["recipe"]}
    return stage
