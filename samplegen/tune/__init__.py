"""``samplegen tune``: a recipe search for a trained run, scored on the valid split only.

Each trial sets a few generation keys (:mod:`samplegen.tune.space`), draws the rows with the
run's trained models into a scratch run (``<run_id>-tune``; with ``tune.parallel_trials`` above
1, one per trial running at once: ``<run_id>-tune-1``, ...) and fits ``tune.target`` on
train + synthetic rows, scored on valid (:mod:`samplegen.tune.trial`; the fits take turns on
the driver, the generation of one trial overlaps the scoring of another). The objective is the
target's NDCG@``evaluate.k`` on ``tune.slice``; a trial that loses more than
``tune.all_tolerance`` of the real-only NDCG on ``all`` is infeasible. Optuna's TPE sampler
(seeded by ``tune.seed``, told the constraint) proposes the trials; the median pruner stops a
stochastic target's trial after a seed when it is behind. A failing trial is recorded with its
error and the search goes on.

Every trial is a ``tuning_trials`` row (rewritten after each trial, so an interrupted search
keeps what it did). The best feasible trial becomes ``recipes/<name>.yaml``, a config overlay
for ``samplegen run --recipe``; the outcome goes to the run's manifest as stage ``tune``. When
no trial beats real-only on valid (paired CI above 0), the verdict says so and recommends not
augmenting, and the recipe's ``recipe:`` section records it (``beats_real: false``), which makes
the stages run with it write nothing unless forced. A second verdict line puts the best
generative trial next to the best non-generative one. Test-split scoring of the recipe, once,
as an ordinary run, is :func:`samplegen.tune.holdout.score_on_test` (``samplegen tune
--then-run``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import yaml
from pyspark.sql import SparkSession

from samplegen.config import Config, ConfigError
from samplegen.ids import check_identifier
from samplegen.registry import strategy
from samplegen.runinfo import (
    LOG,
    Progress,
    StageResult,
    read_manifest,
    stage_timer,
    update_manifest,
)
from samplegen.tables import TUNING_TRIALS, table_ref, table_store, write_table
from samplegen.tune.space import (
    STRATEGY,
    apply,
    check_space,
    recipe_overlay,
    suggest,
    trained_models,
)
from samplegen.tune.trial import Pruned, TrialScore, ValidScorer, generate_trial

__all__ = ["RECIPES", "run_tune", "scratch_run"]

#: The trial attribute of the ``all`` constraint.
_CONSTRAINT = "all_drop_over_tolerance"
#: Where recipes are written by default (relative to the working directory).
RECIPES = Path("recipes")


def scratch_run(run_id: str, slot: int = 0) -> str:
    """The run id the trials of parallel slot ``slot`` write their synthetic rows under.

    Each trial replaces its slot's rows; slot 0 is ``<run_id>-tune``, slot ``n`` is
    ``<run_id>-tune-<n>``.
    """
    suffix = "-tune" if slot == 0 else f"-tune-{slot}"
    return check_identifier(f"{run_id}{suffix}", "--run-id")


def run_tune(
    spark: SparkSession,
    cfg: Config,
    run_id: str,
    name: str | None = None,
    recipes: Path = RECIPES,
) -> StageResult:
    """Search ``cfg.tune``'s space for ``run_id``; write ``tuning_trials``, a recipe, the manifest.

    Raises:
        ConfigError: naming the key, for a search that cannot start (untrained
            ``tune.models``, an empty space, a ``tune.slice`` the valid split lacks).
        RuntimeError: when no trial finished (every row says why).
    """
    import optuna

    name = check_identifier(name or run_id, "--name")
    models = trained_models(cfg, run_id)
    check_space(cfg, models)
    result = StageResult(stage="tune", run_id=run_id)
    rows: list[dict[str, Any]] = []
    with stage_timer(result):
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # our log line per trial instead
        study = optuna.create_study(
            direction="maximize",
            sampler=_sampler(optuna, cfg.tune.seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=cfg.tune.pruner_startup_trials),
        )
        scorer = ValidScorer(spark, cfg)

        def record(row: dict[str, Any]) -> None:
            rows.append(row)
            write_table(_frame(spark, rows, run_id), table_store(cfg), TUNING_TRIALS, run_id)

        _search(study, cfg, models, scorer, run_id, record)
        result.rows["tuning_trials"] = len(rows)
        result.outputs["tuning_trials"] = table_ref(table_store(cfg), TUNING_TRIALS)
        best = _best(rows)
        result.metrics = _outcome(cfg, rows, best)
        if any(r["state"] == "complete" for r in rows):  # the outcome, feasible or not
            path = write_recipe(recipes / f"{name}.yaml", best, cfg, run_id, result.metrics)
            result.outputs["recipe"] = str(path)
            result.metrics["recipe"] = str(path)
    if not any(r["state"] == "complete" for r in rows):
        result.status = "failed"
    _record(cfg, run_id, result)
    if result.status == "failed":
        raise RuntimeError(f"no trial of the search finished: {rows[-1]['error']}")
    return result


def _search(
    study: Any,
    cfg: Config,
    models: list[str],
    scorer: ValidScorer,
    run_id: str,
    record: Callable[[dict[str, Any]], None],
) -> None:
    """Run ``tune.budget`` trials, ``tune.parallel_trials`` at a time; ``record`` each row.

    Optuna's ask and tell: the main thread asks for each trial and draws its params in order
    (so TPE's seeded start-up trials are the same however many run at once), a worker thread
    runs it in a free scratch slot, and the main thread tells the study each result and
    records its row, in trial order among those that finish together. A trial that raises
    (a :class:`ConfigError`: the search itself cannot work) stops the search: no trial
    starts after it, the running ones are pruned at their next seed, every finished one is
    recorded and told, then the error is raised.
    """
    from optuna.trial import TrialState

    slots = [scratch_run(run_id, slot) for slot in range(cfg.tune.parallel_trials)]
    progress = Progress(cfg.tune.budget, "tune")
    stop = threading.Event()
    running: dict[Future[dict[str, Any]], tuple[Any, str]] = {}
    error: Exception | None = None
    asked = 0
    with ThreadPoolExecutor(max_workers=len(slots), thread_name_prefix="tune") as pool:
        try:
            while running or (asked < cfg.tune.budget and error is None):
                busy = {slot for _, slot in running.values()}
                for slot in [s for s in slots if s not in busy]:
                    if asked == cfg.tune.budget or error is not None:
                        break
                    trial = study.ask()
                    params = suggest(trial, cfg, models)
                    future = pool.submit(_trial, trial, params, cfg, scorer, slot, run_id, stop)
                    running[future] = (trial, slot)
                    asked += 1
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: running[f][0].number):
                    trial, _ = running.pop(future)
                    try:
                        row = future.result()
                    except Exception as err:  # raised below, once the running trials are in
                        study.tell(trial, state=TrialState.FAIL)
                        error = error or err
                        stop.set()
                        continue
                    record(row)
                    _tell(study, trial, row)
                    progress.advance(f"trial {row['trial']} {row['state']}")
        except BaseException:  # e.g. Ctrl-C: the running trials stop at their next seed
            stop.set()
            raise
    if error is not None:
        raise error


def _tell(study: Any, trial: Any, row: dict[str, Any]) -> None:
    """Tell the study a finished trial's outcome (its row's state and objective)."""
    from optuna.trial import TrialState

    if row["state"] == "complete":
        study.tell(trial, row["objective"])
    else:
        study.tell(trial, state=TrialState.PRUNED if row["state"] == "pruned" else TrialState.FAIL)


def _trial(
    trial: Any,
    params: dict[str, Any],
    cfg: Config,
    scorer: ValidScorer,
    scratch: str,
    run_id: str,
    stop: threading.Event,
) -> dict[str, Any]:
    """Run one trial with its ``params`` in scratch run ``scratch``; its ``tuning_trials`` row.

    The row's state is complete, pruned or failed; once ``stop`` is set (the search is
    ending), the trial is pruned after its next seed.
    """
    started = time.perf_counter()
    row: dict[str, Any] = {
        "trial": trial.number,
        "params": json.dumps(params, sort_keys=True),
        "target": cfg.tune.target,
        "slice": cfg.tune.slice,
        "k": cfg.evaluate.k,
    }

    def report(step: int, value: float) -> bool:
        trial.report(value, step)
        return stop.is_set() or trial.should_prune()

    try:
        trial_cfg = apply(cfg, params)
        generate_trial(scorer.spark, trial_cfg, scratch, run_id)
        score = scorer.score(scratch, report, trial_cfg.evaluate.score_with)
    except ConfigError:
        raise  # the search itself cannot work (e.g. the slice): stop, naming the key
    except Pruned as err:
        row |= {"state": "pruned", "error": str(err)}
    except Exception as err:  # recorded with its error; the search goes on
        LOG.warning("tune trial=%d params=%s failed", trial.number, row["params"], exc_info=True)
        row |= {"state": "failed", "error": f"{type(err).__name__}: {err}"}
    else:
        feasible = score.all_drop <= cfg.tune.all_tolerance
        _set_constraint(trial, score.all_drop - cfg.tune.all_tolerance)
        row |= {"state": "complete", "feasible": feasible, **_figures(score)}
    row["seconds"] = round(time.perf_counter() - started, 2)
    LOG.info(
        "tune trial=%d state=%s objective=%s seconds=%.1f params=%s",
        trial.number,
        row["state"],
        row.get("objective"),
        row["seconds"],
        row["params"],
    )
    return row


def _figures(score: TrialScore) -> dict[str, Any]:
    return {
        "objective": score.objective,
        "real_objective": score.real_objective,
        "diff": score.diff,
        "diff_ci_low": score.diff_ci_low,
        "diff_ci_high": score.diff_ci_high,
        "all_ndcg": score.all_ndcg,
        "real_all_ndcg": score.real_all_ndcg,
        "n_users": score.n_users,
    }


def _sampler(optuna: Any, seed: int) -> Any:
    """TPE seeded by ``tune.seed``, told the constraint (Optuna 5: the trials set it)."""
    if hasattr(optuna.trial.Trial, "set_constraint"):
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, constraints_func=_constraint)  # Optuna < 5


def _set_constraint(trial: Any, value: float) -> None:
    """Record the constraint (<= 0: ``all`` lost at most ``tune.all_tolerance``)."""
    trial.set_user_attr(_CONSTRAINT, value)
    if hasattr(trial, "set_constraint"):
        trial.set_constraint(_CONSTRAINT, value)


def _constraint(trial: Any) -> tuple[float]:
    """The constraint for Optuna < 5's ``constraints_func`` (unscored trials: infeasible)."""
    return (float(trial.user_attrs.get(_CONSTRAINT, 1.0)),)


def _best(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The feasible complete trial of the highest objective (the first of equals)."""
    feasible = [r for r in rows if r["state"] == "complete" and r["feasible"]]
    return max(feasible, key=lambda r: r["objective"], default=None)


def _outcome(
    cfg: Config, rows: list[dict[str, Any]], best: dict[str, Any] | None
) -> dict[str, Any]:
    """The verdict line and the figures for the manifest and the CLI."""
    tune, k = cfg.tune, cfg.evaluate.k
    states = {s: sum(r["state"] == s for r in rows) for s in ("complete", "pruned", "failed")}
    out: dict[str, Any] = {"trials": states, "target": tune.target, "slice": tune.slice, "k": k}
    complete = [r for r in rows if r["state"] == "complete"]
    if not complete:
        out["verdict"] = ["no trial finished; see the error of each tuning_trials row"]
        return out
    if best is None:
        out["verdict"] = [
            f"every finished trial loses more than {tune.all_tolerance:.0%} of the real-only "
            f"NDCG@{k} on all users on valid: do not augment"
        ]
        return out
    figure = (
        f"{tune.target} NDCG@{k} on {tune.slice} (valid) {best['objective']:.4f} vs real-only "
        f"{best['real_objective']:.4f}, {best['diff']:+.4f} "
        f"[{best['diff_ci_low']:+.4f}, {best['diff_ci_high']:+.4f}], n={best['n_users']}"
    )
    out |= {"best_trial": best["trial"], "best_params": json.loads(best["params"])}
    out["beats_real"] = bool(best["diff_ci_low"] > 0) and best["n_users"] >= cfg.evaluate.min_users
    if best["n_users"] < cfg.evaluate.min_users:
        out["verdict"] = [
            f"too few users (n={best['n_users']} < evaluate.min_users={cfg.evaluate.min_users}) "
            f"on {tune.slice} in valid for a verdict (best: trial {best['trial']}, {figure}): "
            "recommend not augmenting on this evidence"
        ]
    elif out["beats_real"]:
        out["verdict"] = [f"trial {best['trial']} beats real-only: {figure}"]
    else:
        out["verdict"] = [
            f"no trial beats real-only on valid (best: trial {best['trial']}, {figure}; CI "
            "not above 0): recommend not augmenting"
        ]
    families = _best_per_family(rows)
    if families:
        out["best_per_family"] = families
        out["verdict"].append(_family_line(families, tune.target, tune.slice, k))
    return out


def _best_per_family(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The best feasible trial of the generative strategies and of the non-generative ones.

    The non-generative strategies (the augment operators) are the alternative a team ships
    without a generator, tuned by the same search; the issue's bar is the generative best.
    """

    def generative(row: dict[str, Any]) -> bool:
        return strategy(json.loads(row["params"])[STRATEGY]).generative

    out: dict[str, dict[str, Any]] = {}
    for family, wanted in (("generative", True), ("non_generative", False)):
        best = _best([row for row in rows if generative(row) == wanted])
        if best is not None:
            out[family] = {
                "trial": best["trial"],
                "strategy": json.loads(best["params"])[STRATEGY],
                "objective": best["objective"],
                "diff": best["diff"],
            }
    return out


def _family_line(families: dict[str, dict[str, Any]], target: str, slice_: str, k: int) -> str:
    """Best generative vs best non-generative trial on valid (point values: different trials)."""
    words = {"generative": "generative", "non_generative": "non-generative"}
    parts = [
        f"best {words[name]}: trial {best['trial']} ({best['strategy']}) {best['objective']:.4f}"
        for name, best in families.items()
    ]
    line = f"{target} NDCG@{k} on {slice_} (valid), " + "; ".join(parts)
    if len(families) == 2:
        gap = families["generative"]["objective"] - families["non_generative"]["objective"]
        line += f"; generative - non-generative {gap:+.4f} (no CI: two trials)"
    return line


def write_recipe(
    path: Path, best: dict[str, Any] | None, cfg: Config, run_id: str, outcome: dict[str, Any]
) -> Path:
    """Write the best trial's params as a config overlay, with its ``recipe`` section.

    The section (:class:`~samplegen.config.RecipeConfig`) names the tuned run and trial and
    whether the trial beat real-only on valid; when it did not, a run with the recipe writes
    no synthetic rows unless ``recipe.force``. Without a feasible trial (``best`` None) the
    recipe is that section alone, so an earlier recipe of the same name cannot outlive the
    search that rejected it. The verdict is repeated in a comment.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    trial = "no feasible trial" if best is None else f"trial {best['trial']}"
    header = [
        f"# samplegen recipe, chosen by `samplegen tune` for run {run_id} on the valid split",
        f"# ({trial}, target {cfg.tune.target}, slice {cfg.tune.slice}).",
        f"# {outcome['verdict'][0]}",
        "# Use: samplegen run --conf <conf> --recipe " + str(path),
    ]
    overlay = {} if best is None else recipe_overlay(json.loads(best["params"]))
    overlay["recipe"] = {
        "tuned_run": run_id,
        "trial": None if best is None else best["trial"],
        "beats_real": bool(outcome.get("beats_real")),
    }
    body = yaml.safe_dump(overlay, sort_keys=True)
    path.write_text("\n".join(header) + "\n" + body)
    return path


def _record(cfg: Config, run_id: str, result: StageResult) -> None:
    """The search in the run's manifest, keeping the config the run recorded."""
    config = read_manifest(cfg.reports_root, run_id).get("config") or cfg.to_dict()
    update_manifest(cfg.reports_root, run_id, config, result)
    for line in result.metrics.get("verdict", []):
        LOG.info("tune run_id=%s verdict %s", run_id, line)


def _frame(spark: SparkSession, rows: list[dict[str, Any]], run_id: str):
    """The trials so far as ``tuning_trials`` rows."""
    fields = TUNING_TRIALS.schema.fields
    records = [tuple({"run_id": run_id, **row}.get(f.name) for f in fields) for row in rows]
    return spark.createDataFrame(records, TUNING_TRIALS.schema)
