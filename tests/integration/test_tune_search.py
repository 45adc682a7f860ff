"""``samplegen tune`` on the small run: trials, recipe, manifest, and no test-split data in a trial.

Each search runs on a copy of the session's lakehouse and model (the shared run's tables stay
as the other tests expect them), two trials of densify with EASE on the cold slice.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from samplegen.config import Config, ConfigError, load_config
from samplegen.evaluate.data import load_eval_data
from samplegen.evaluate.rows import DIFF_VARIANT
from samplegen.models.store import model_dir
from samplegen.runinfo import read_manifest
from samplegen.tables import (
    EVAL_METRICS,
    INTERACTIONS,
    SYNTHETIC_INTERACTIONS,
    TUNING_TRIALS,
    read_table,
    write_table,
)
from samplegen.tune import run_tune, scratch_run
from samplegen.tune.holdout import score_on_test, skip_reason
from tests.conftest import REPO, RUN_ID

pytestmark = [pytest.mark.spark, pytest.mark.slow]

TUNE = [
    "tune.budget=2",
    "tune.all_tolerance=1.0",
    "tune.strategies=[densify]",
    "tune.synthetic_weight=[0.2, 0.8]",
    "tune.items_per_user=[3, 8]",
    "tune.max_user_items=[10, 60]",
]
#: What a trial measured (not how long it took).
FIGURES = ["trial", "state", "params", "objective", "real_objective", "diff", "all_ndcg"]


def _copy(cfg: Config, root: Path) -> Config:
    """``cfg`` on a copy of its lakehouse and of the run's model, with the search settings."""
    shutil.copytree(cfg.lakehouse, root / "lakehouse")
    shutil.copytree(model_dir(cfg, RUN_ID), root / "models" / cfg.train.model / RUN_ID)
    searched = load_config(None, TUNE)
    return dataclasses.replace(
        cfg,
        lakehouse=str(root / "lakehouse"),
        models_root=str(root / "models"),
        reports_root=str(root / "reports"),
        tune=searched.tune,
    )


def _trials(spark, cfg: Config) -> list[dict]:
    rows = read_table(spark, cfg.lakehouse, TUNING_TRIALS).where(F.col("run_id") == RUN_ID)
    return sorted((r.asDict() for r in rows.collect()), key=lambda r: r["trial"])


@pytest.fixture(scope="module")
def searched(spark, cfg, pipeline_run, tmp_path_factory):
    """One search on a clean copy: its config, result and trial rows."""
    root = tmp_path_factory.mktemp("tune-clean")
    clean = _copy(cfg, root)
    result = run_tune(spark, clean, RUN_ID, name="cold-ease", recipes=root / "recipes")
    return clean, result, _trials(spark, clean)


def test_two_trials_are_rows_and_the_best_is_a_recipe_in_the_manifest(searched):
    clean, result, trials = searched
    assert [t["trial"] for t in trials] == [0, 1]
    assert all(t["state"] == "complete" and t["seconds"] > 0 for t in trials)
    assert all(t["target"] == "ease" and t["slice"] == "cold" and t["k"] == 20 for t in trials)
    assert len({t["params"] for t in trials}) == 2  # TPE proposed two recipes
    assert trials[0]["real_objective"] == trials[1]["real_objective"] > 0  # one real-only fit
    recipe = Path(result.outputs["recipe"])
    assert recipe.name == "cold-ease.yaml" and recipe.exists()
    best = max(trials, key=lambda t: t["objective"])
    assert result.metrics["best_trial"] == best["trial"]
    assert result.metrics["verdict"]
    stage = read_manifest(clean.reports_root, RUN_ID)["stages"]["tune"]
    assert stage["outputs"]["recipe"] == str(recipe)
    assert stage["metrics"]["trials"] == {"complete": 2, "pruned": 0, "failed": 0}


def test_the_recipe_round_trips_through_the_config_loader(searched):
    _, result, _ = searched
    loaded = load_config(REPO / "conf" / "local.yaml", recipe=result.outputs["recipe"])
    for key, value in result.metrics["best_params"].items():
        section, name = key.split(".")
        assert getattr(getattr(loaded, section), name) == value
    assert loaded.generate.strategy == "densify"
    assert (loaded.recipe.tuned_run, loaded.recipe.trial) == (RUN_ID, result.metrics["best_trial"])
    assert loaded.recipe.beats_real is bool(result.metrics["beats_real"])
    overridden = load_config(
        REPO / "conf" / "local.yaml",
        ["generate.strategy=mask", "generate.items_per_user=4"],
        recipe=result.outputs["recipe"],
    )
    assert overridden.generate.strategy == "mask"  # --set wins over the recipe
    assert overridden.generate.items_per_user == 4


def test_no_test_split_row_reaches_a_trial(spark, cfg, searched, tmp_path):
    """Poison every test row of a copy: stage 4's test targets change, the trials do not."""
    clean, _, trials = searched
    poisoned = _copy(cfg, tmp_path)
    test = read_table(spark, poisoned.lakehouse, INTERACTIONS["test"])
    junk = F.array(*(F.lit(i) for i in range(5)))
    flipped = test.withColumn("item_idx", junk).withColumn("n_items", F.lit(5))
    write_table(
        flipped.withColumn("weight", F.array_repeat(F.lit(1.0), 5)),
        poisoned.lakehouse,
        INTERACTIONS["test"],
    )
    before = load_eval_data(spark, clean, RUN_ID).targets
    after = load_eval_data(spark, poisoned, RUN_ID).targets
    assert any(len(a) != len(b) or (a != b).any() for a, b in zip(before, after, strict=True))

    run_tune(spark, poisoned, RUN_ID, recipes=tmp_path / "recipes")
    again = _trials(spark, poisoned)
    assert [{k: t[k] for k in FIGURES} for t in again] == [
        {k: t[k] for k in FIGURES} for t in trials
    ]


def test_a_search_that_cannot_start_names_the_key(spark, searched):
    clean, _, _ = searched
    nothing = load_config(
        None,
        [
            "tune.strategies=[mask]",
            "tune.synthetic_weight=[]",
            "tune.items_per_user=[]",
            "tune.max_user_items=[]",
            "tune.synthetic_users=[]",
        ],
    )
    with pytest.raises(ConfigError, match="search space is empty"):
        run_tune(spark, dataclasses.replace(clean, tune=nothing.tune), RUN_ID)
    untrained = load_config(None, ["tune.models=[gan]"])
    with pytest.raises(ConfigError, match="tune.models lists gan"):
        run_tune(spark, dataclasses.replace(clean, tune=untrained.tune), RUN_ID)


def test_then_run_scores_the_recipe_once_on_test_naming_the_search(spark, searched):
    """The chosen recipe as an ordinary run: test rows in eval_metrics, provenance, report."""
    clean, result, trials = searched
    narrowed = dataclasses.replace(
        clean.evaluate,
        recommenders=["ease"],
        ks=[20],
        dose_ratios=[],
        repeats=1,
        bootstrap_samples=20,
    )
    scored = dataclasses.replace(clean, evaluate=narrowed)
    rejected = dataclasses.replace(result, metrics={**result.metrics, "beats_real": False})
    assert skip_reason(rejected, force=False).startswith("the search recommends not augmenting")
    assert score_on_test(spark, scored, rejected, "recipe-test") == []
    assert read_manifest(scored.reports_root, "recipe-test") == {}  # nothing was run

    stages = score_on_test(spark, scored, rejected, "recipe-test", force=True)
    assert [s.stage for s in stages] == ["generate", "evaluate"]
    rows = read_table(spark, scored.lakehouse, EVAL_METRICS).where(F.col("run_id") == "recipe-test")
    diffs = rows.where((F.col("variant") == DIFF_VARIANT) & (F.col("recommender") == "ease"))
    assert diffs.where(F.col("ci_low").isNotNull()).count() > 0  # paired CIs, on test
    manifest = read_manifest(scored.reports_root, "recipe-test")
    recipe = manifest["stages"]["recipe"]["metrics"]
    assert recipe["chosen_on"] == "valid" and recipe["tuned_run"] == RUN_ID
    assert recipe["trial"] == result.metrics["best_trial"] and recipe["trials"] == len(trials)
    assert recipe["recipe"] == result.outputs["recipe"] and recipe["forced"] is True
    assert manifest["config"]["generate"]["strategy"] == "densify"
    page = Path(manifest["stages"]["evaluate"]["outputs"]["report"]).read_text(encoding="utf-8")
    best = result.metrics["best_trial"]
    assert f"recipe chosen on valid (trial {best} of {len(trials)}), scored once on test" in page


def test_a_search_over_new_items_tunes_their_dose(spark, cfg, pipeline_run, tmp_path):
    """new_items draws its own users: a trial sets its dose, never the thin users' keys."""
    searched = _copy(cfg, tmp_path)
    tune = load_config(
        None,
        [
            *TUNE,
            "tune.strategies=[new_items]",
            "tune.new_item_users_scale=[0.1, 0.5]",
            "tune.slice=all",
        ],
    ).tune
    generate = dataclasses.replace(cfg.generate, new_items=6)
    searched = dataclasses.replace(searched, tune=tune, generate=generate)
    result = run_tune(spark, searched, RUN_ID, recipes=tmp_path / "recipes")
    trials = _trials(spark, searched)
    assert [t["state"] for t in trials] == ["complete", "complete"]
    for trial in trials:
        params = json.loads(trial["params"])
        assert params["generate.strategy"] == "new_items"
        assert 0.1 <= params["generate.new_item_users_scale"] <= 0.5
        assert not {"generate.max_user_items", "generate.items_per_user"} & set(params)
    rows = read_table(spark, searched.lakehouse, SYNTHETIC_INTERACTIONS).where(
        F.col("run_id") == scratch_run(RUN_ID)
    )
    assert rows.count() > 0 and rows.where(F.col("item_ids").isNull()).count() == 0
    loaded = load_config(REPO / "conf" / "local.yaml", recipe=result.outputs["recipe"])
    best = result.metrics["best_params"]["generate.new_item_users_scale"]
    assert loaded.generate.new_item_users_scale == best


def test_trials_run_at_once_score_as_they_would_alone(spark, cfg, pipeline_run, tmp_path):
    """Two trials at once, each in its own scratch run, give the figures of one at a time.

    The space holds only the strategy (one trained model, every range empty), so each trial
    makes one seeded draw and both searches propose the same two recipes, whichever trial
    finishes first.
    """
    space = [
        *TUNE,
        "tune.strategies=[densify, long_tail]",
        "tune.synthetic_weight=[]",
        "tune.items_per_user=[]",
        "tune.max_user_items=[]",
        "tune.score_with=[]",
    ]
    figures = {}
    for parallel in (1, 2):
        root = tmp_path / f"parallel{parallel}"
        searched = _copy(cfg, root)
        tune = load_config(None, [*space, f"tune.parallel_trials={parallel}"]).tune
        searched = dataclasses.replace(searched, tune=tune)
        run_tune(spark, searched, RUN_ID, recipes=root / "recipes")
        trials = _trials(spark, searched)
        assert [t["state"] for t in trials] == ["complete", "complete"]
        figures[parallel] = sorted(tuple(t[k] for k in FIGURES if k != "trial") for t in trials)
        written = read_table(spark, searched.lakehouse, SYNTHETIC_INTERACTIONS)
        scratches = {r.run_id for r in written.select("run_id").distinct().collect()}
        expected = {scratch_run(RUN_ID, slot) for slot in range(parallel)}
        assert expected <= scratches  # each slot wrote its own rows
        assert scratch_run(RUN_ID, parallel) not in scratches
    assert figures[2] == figures[1]


def test_a_trial_that_cannot_be_scored_stops_a_parallel_search_naming_the_key(
    spark, cfg, pipeline_run, tmp_path
):
    """A slice the valid split lacks is found by the first trials; no further trial starts."""
    searched = _copy(cfg, tmp_path)
    tune = load_config(
        None, [*TUNE, "tune.budget=5", "tune.parallel_trials=2", "tune.slice=category:nowhere"]
    ).tune
    searched = dataclasses.replace(searched, tune=tune)
    with pytest.raises(ConfigError, match="tune.slice 'category:nowhere'"):
        run_tune(spark, searched, RUN_ID, recipes=tmp_path / "recipes")
    written = read_table(spark, searched.lakehouse, SYNTHETIC_INTERACTIONS)
    scratches = {r.run_id for r in written.select("run_id").distinct().collect()}
    assert scratch_run(RUN_ID, 1) in scratches  # the two first trials ran at once
    assert not (tmp_path / "recipes").exists()  # the search wrote no recipe
