"""A recipe whose search recommended not augmenting: stages 2-4 write nothing unless forced.

The stages decline before touching Spark, the models or the tables, so they are called here
without a session; the folders they would write to must stay empty.
"""

from __future__ import annotations

import pytest

from samplegen.cli import build_parser, main
from samplegen.config import load_config
from samplegen.evaluate import run_evaluate
from samplegen.generate import run_generate
from samplegen.train import run_train
from samplegen.tune import write_recipe
from tests.conftest import REPO

CONF = str(REPO / "conf" / "local.yaml")
BEST = {"trial": 4, "params": '{"generate.strategy": "densify", "generate.items_per_user": 9}'}


def _recipe(tmp_path, beats_real: bool):
    outcome = {"verdict": ["no trial beats real-only on valid (...)"], "beats_real": beats_real}
    path = tmp_path / "recipes" / "r.yaml"
    write_recipe(path, BEST, load_config(CONF), "tuned", outcome)
    return path


def _cfg(tmp_path, recipe, extra=()):
    places = [f"lakehouse={tmp_path / 'lake'}", f"models_root={tmp_path / 'models'}"]
    return load_config(CONF, [*places, *extra], recipe=recipe)


def test_the_recipe_file_records_where_it_came_from(tmp_path):
    cfg = _cfg(tmp_path, _recipe(tmp_path, beats_real=False))
    assert (cfg.recipe.tuned_run, cfg.recipe.trial, cfg.recipe.beats_real) == ("tuned", 4, False)
    assert cfg.generate.strategy == "densify" and cfg.generate.items_per_user == 9
    assert "recommends not augmenting" in cfg.recipe.declines()
    assert load_config(CONF).recipe.declines() is None  # no recipe: nothing declined


@pytest.mark.parametrize("stage", [run_train, run_generate, run_evaluate])
def test_a_declining_recipe_makes_the_stage_write_nothing(tmp_path, stage):
    cfg = _cfg(tmp_path, _recipe(tmp_path, beats_real=False))
    result = stage(None, cfg, "nightly")  # no Spark session: it must not be needed
    assert result.status == "declined" and result.rows == {}
    assert "run tuned, trial 4" in result.metrics["declined"]
    assert result.metrics["verdict"] == [result.metrics["declined"]]
    assert not (tmp_path / "lake").exists() and not (tmp_path / "models").exists()


def test_force_or_a_winning_recipe_runs_the_stages(tmp_path):
    losing = _recipe(tmp_path, beats_real=False)
    assert _cfg(tmp_path, losing, ["recipe.force=true"]).recipe.declines() is None
    assert _cfg(tmp_path, _recipe(tmp_path, beats_real=True)).recipe.declines() is None


def test_an_empty_recipe_flag_means_no_recipe(capsys):
    """The bundle passes ``--recipe ${var.recipe}``, empty by default."""
    assert build_parser().parse_args(["generate", "--conf", CONF, "--recipe", ""]).recipe == ""
    # The config error is reached (no recipe file was looked for).
    assert main(["generate", "--conf", CONF, "--recipe", "", "--set", "tune.budget=0"]) == 2
    err = capsys.readouterr().err
    assert "tune.budget" in err and "recipe" not in err


def test_a_search_without_a_feasible_trial_still_leaves_a_declining_recipe(tmp_path):
    """An older recipe of the same name must not outlive the search that rejected it."""
    path = _recipe(tmp_path, beats_real=True)
    outcome = {"verdict": ["every finished trial loses more than 2% ...: do not augment"]}
    write_recipe(path, None, load_config(CONF), "tuned", outcome)
    cfg = _cfg(tmp_path, path)
    assert cfg.generate.items_per_user == load_config(CONF).generate.items_per_user
    assert cfg.recipe.trial is None and "no feasible trial" in cfg.recipe.declines()
