"""``samplegen tune`` without Spark: its flags and config checks, the space, recipes as overlays."""

from __future__ import annotations

import dataclasses
import json
import sys

import optuna
import pytest
import yaml

from samplegen.cli import build_parser, main
from samplegen.config import ConfigError, load_config
from samplegen.config.checks import TUNE_RANGES
from samplegen.tune.space import apply, check_space, recipe_overlay, suggest
from tests.conftest import REPO

CONF = str(REPO / "conf" / "local.yaml")


@pytest.mark.parametrize(
    "flags, key",
    [
        (["--budget", "0"], "tune.budget"),
        (["--target", "sasrek"], "tune.target"),
        (["--target", "logreg"], "tune.target"),  # a classifier ranks no items
        (["--slice", "warm"], "tune.slice"),
        (["--set", "tune.strategies=[]"], "tune.strategies"),
        (["--set", "tune.strategies=[label_balance]"], "tune.strategies"),
        (["--set", "tune.strategies=[oversample]"], "tune.strategies"),
        (["--set", "tune.models=[tabular]"], "tune.models"),
        (["--set", "tune.synthetic_weight=[0.5, 2.0]"], "tune.synthetic_weight"),
        (["--set", "tune.items_per_user=[9, 3]"], "tune.items_per_user"),
        (["--set", "tune.new_item_users_scale=[0, 1]"], "tune.new_item_users_scale"),
        (["--set", "tune.score_with=[profile]"], "tune.score_with"),
        (["--set", "evaluate.score_with=both"], "evaluate.score_with"),
        (["--set", "tune.parallel_trials=0"], "tune.parallel_trials"),
    ],
)
def test_bad_tune_input_exits_2_naming_the_key(flags, key, capsys):
    assert main(["tune", "--conf", CONF, "--run-id", "r", *flags]) == 2
    err = capsys.readouterr().err
    assert key in err and len(err.strip().splitlines()) == 1


def test_each_parallel_slot_has_its_own_scratch_run():
    from samplegen.tune import scratch_run

    assert [scratch_run("r1", slot) for slot in range(3)] == ["r1-tune", "r1-tune-1", "r1-tune-2"]


def test_tune_needs_a_run_id(capsys):
    assert main(["tune", "--conf", CONF]) == 2
    assert "--run-id" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--then-run", "r"], "--then-run needs a new run id"),
        (["--force-test"], "--force-test needs --then-run"),
        (["--then-run", "../up"], "--then-run"),
    ],
)
def test_a_bad_test_run_exits_2_before_the_search(flags, words, capsys):
    assert main(["tune", "--conf", CONF, "--run-id", "r", *flags]) == 2
    assert words in capsys.readouterr().err


def test_tune_without_optuna_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if not installed: find_spec is None
    assert main(["tune", "--conf", CONF, "--run-id", "r"]) == 2
    assert "samplegen[tune]" in capsys.readouterr().err


def test_a_recipe_with_an_unknown_key_exits_2_naming_it_and_the_file(tmp_path, capsys):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("generate:\n  strategy: densify\n  synthetic_wieght: 0.3\n")
    assert main(["run", "--conf", CONF, "--recipe", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "generate.synthetic_wieght" in err and str(recipe) in err
    assert main(["run", "--conf", CONF, "--recipe", str(tmp_path / "none.yaml")]) == 2
    assert "recipe not found" in capsys.readouterr().err


def test_a_recipe_value_is_checked_like_the_config(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("generate:\n  synthetic_weight: 3.0\n")
    with pytest.raises(ConfigError, match="generate.synthetic_weight"):
        load_config(CONF, [], recipe=recipe)


def test_every_stage_command_takes_a_recipe():
    for command in ("run", "aggregate", "train", "generate", "evaluate"):
        args = build_parser().parse_args([command, "--conf", CONF, "--recipe", "r.yaml"])
        assert args.recipe == "r.yaml"


def _params(strategy: str, overrides: list[str] | None = None) -> dict:
    cfg = load_config(CONF, overrides or [])
    fixed = {
        "generate.strategy": strategy,
        "train.model": "multvae",
        "generate.synthetic_weight": 0.3,
        "generate.max_user_items": 12,
        "generate.items_per_user": 7,
        "generate.synthetic_users": 300,
        "generate.new_item_users_scale": 0.2,
        "evaluate.score_with": "augmented",
    }
    return suggest(optuna.trial.FixedTrial(fixed), cfg, ["multvae"])


def test_a_trial_sets_only_the_keys_its_strategy_reads():
    densify = _params("densify")
    assert "generate.items_per_user" in densify and "generate.synthetic_users" not in densify
    users = _params("synthetic_users")
    assert "generate.synthetic_users" in users and "generate.items_per_user" not in users
    baseline = _params("mask")
    assert "train.model" not in baseline  # a baseline draws from no model
    fixed_weight = _params("densify", ["tune.synthetic_weight=[]"])
    assert "generate.synthetic_weight" not in fixed_weight
    # The use of the added items is searched only where real users get items.
    assert densify["evaluate.score_with"] == "augmented"
    assert "evaluate.score_with" not in users
    assert "evaluate.score_with" not in _params("densify", ["tune.score_with=[]"])
    # new_items draws its own users: its dose is the scale, not the thin users or their items.
    new_items = _params("new_items", ["tune.strategies=[new_items]"])
    assert new_items["generate.new_item_users_scale"] == 0.2
    assert not {"generate.max_user_items", "generate.items_per_user"} & set(new_items)
    assert "generate.new_item_users_scale" not in densify
    assert "generate.new_item_users_scale" not in _params(
        "new_items", ["tune.strategies=[new_items]", "tune.new_item_users_scale=[]"]
    )


def test_params_apply_to_the_config_and_round_trip_as_a_recipe(tmp_path):
    params = _params("densify")
    cfg = load_config(CONF)
    applied = apply(cfg, params)
    assert applied.generate.items_per_user == 7 and applied.generate.synthetic_weight == 0.3
    assert applied.evaluate.score_with == "augmented"
    assert cfg.generate.items_per_user != 7  # the base config is untouched
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(recipe_overlay(params)))
    assert load_config(CONF, [], recipe=recipe) == applied


def test_an_empty_search_space_is_refused_naming_tune():
    cfg = load_config(
        CONF,
        [
            "tune.strategies=[densify]",
            "tune.synthetic_weight=[]",
            "tune.items_per_user=[]",
            "tune.max_user_items=[]",
            "tune.synthetic_users=[]",
            "tune.score_with=[augmented]",
        ],
    )
    with pytest.raises(ConfigError, match="tune: the search space is empty"):
        check_space(cfg, ["multvae"])
    check_space(cfg, ["multvae", "cvae"])  # two generators to choose between
    # Two uses of the added items are a choice only for a strategy that adds items.
    new_users = dataclasses.replace(cfg.tune, strategies=["mask"], score_with=["real", "augmented"])
    with pytest.raises(ConfigError, match="tune: the search space is empty"):
        check_space(dataclasses.replace(cfg, tune=new_users), ["multvae"])
    check_space(
        dataclasses.replace(
            cfg, tune=dataclasses.replace(cfg.tune, score_with=["real", "augmented"])
        ),
        ["multvae"],
    )
    # The new-item dose is a range only where new_items is searched.
    dose = dataclasses.replace(cfg.tune, new_item_users_scale=[0.05, 1.0])
    with pytest.raises(ConfigError, match="tune: the search space is empty"):
        check_space(dataclasses.replace(cfg, tune=dose), ["multvae"])
    new_items = dataclasses.replace(dose, strategies=["new_items"])
    check_space(dataclasses.replace(cfg, tune=new_items), ["multvae"])


@pytest.mark.parametrize(
    ("strategy", "given", "models"),
    [
        ("new_items", "items_per_user", ["multvae"]),  # new_items reads its dose, not these
        ("new_items", "max_user_items", ["multvae"]),
        ("densify", "synthetic_users", ["multvae"]),  # densify writes no new users
        ("synthetic_users", "items_per_user", ["multvae"]),
        ("mask", "new_item_users_scale", ["multvae", "cvae"]),  # a baseline reads no model
    ],
)
def test_a_range_the_only_strategy_does_not_read_leaves_the_space_empty(strategy, given, models):
    cfg = load_config(CONF, [f"tune.strategies=[{strategy}]", "tune.score_with=[real]"])
    ranges = {key: [] for key, _, _ in TUNE_RANGES} | {given: getattr(cfg.tune, given)}
    only_given = dataclasses.replace(cfg, tune=dataclasses.replace(cfg.tune, **ranges))
    assert getattr(only_given.tune, given)  # the default range of the key is not empty
    with pytest.raises(ConfigError, match=f"tune: the search space is empty: {strategy} ") as err:
        check_space(only_given, models)
    assert f"tune.{given}" not in str(err.value)  # the message lists what the strategy reads
    fixed = {"generate.strategy": strategy, "train.model": "multvae", "evaluate.score_with": "real"}
    params = suggest(optuna.trial.FixedTrial(fixed), only_given, models)
    assert set(params) <= set(fixed)  # and the trials set none of the given range's keys


def test_a_lost_tuning_trials_file_names_the_tune_command():
    from samplegen.damage import missing_data_file

    err = FileNotFoundError(
        "FileNotFoundException: file:/lake/tuning_trials/run_id=r1/part-0.snappy.parquet "
        "does not exist"
    )
    damaged = missing_data_file(err)
    assert damaged is not None and "samplegen tune --run-id r1" in str(damaged)


def _row(trial: int, strategy_name: str, objective: float, feasible: bool = True) -> dict:
    return {
        "trial": trial,
        "state": "complete",
        "feasible": feasible,
        "params": json.dumps({"generate.strategy": strategy_name}),
        "objective": objective,
        "real_objective": 0.10,
        "diff": objective - 0.10,
        "diff_ci_low": -0.01,
        "diff_ci_high": 0.02,
        "n_users": 200,
    }


def test_the_outcome_names_the_best_generative_and_non_generative_trials():
    from samplegen.tune import _best, _outcome

    rows = [
        _row(0, "densify", 0.105),
        _row(1, "crop", 0.103),
        _row(2, "mask", 0.108, feasible=False),  # infeasible: not a candidate
        _row(3, "synthetic_users", 0.101),
    ]
    out = _outcome(load_config(CONF), rows, _best(rows))
    families = out["best_per_family"]
    assert families["generative"]["trial"] == 0 and families["non_generative"]["trial"] == 1
    assert out["verdict"][0].startswith("no trial beats real-only")
    line = out["verdict"][1]
    assert "trial 0 (densify) 0.1050" in line and "trial 1 (crop) 0.1030" in line
    assert "generative - non-generative +0.0020" in line
    only_baselines = _outcome(load_config(CONF), rows[1:2], _best(rows[1:2]))
    assert set(only_baselines["best_per_family"]) == {"non_generative"}
    assert "generative -" not in only_baselines["verdict"][1]
