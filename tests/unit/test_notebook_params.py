import pytest

from samplegen.notebook import notebook_params, show
from samplegen.runinfo import StageResult
from tests.conftest import REPO


class Widgets:
    """The part of Databricks' dbutils.widgets the notebooks use, holding given values."""

    def __init__(self, values):
        self.values = values
        self.declared = {}

    def text(self, name, default):
        self.declared[name] = default

    def get(self, name):
        return self.values.get(name, self.declared[name])


class TaskValues:
    """dbutils.jobs.taskValues inside a job run: values set by tasks, read by task key."""

    def __init__(self, task_key, store):
        self.task_key, self.store = task_key, store

    def set(self, key, value):
        self.store[(self.task_key, key)] = value

    def get(self, taskKey, key, default=None, debugValue=None):  # noqa: N803 (dbutils' names)
        return self.store.get((taskKey, key), default)


class Jobs:
    def __init__(self, task_key, store):
        self.taskValues = TaskValues(task_key, store)


class DBUtils:
    def __init__(self, values, task_key="notebook", store=None):
        self.widgets = Widgets(values)
        self.jobs = Jobs(task_key, {} if store is None else store)


def test_widgets_win_on_databricks(monkeypatch):
    monkeypatch.setenv("SAMPLEGEN_RUN_ID", "from-env")
    dbutils = DBUtils(
        {"conf": str(REPO / "conf" / "local.yaml"), "run_id": "w1", "overrides": "train.epochs=2"}
    )
    cfg, run_id = notebook_params({"dbutils": dbutils}, require_run_id=True)
    assert run_id == "w1"
    assert cfg.train.epochs == 2
    assert set(dbutils.widgets.declared) == {"conf", "run_id", "overrides", "recipe"}


def test_environment_elsewhere(monkeypatch):
    monkeypatch.setenv("SAMPLEGEN_CONF", str(REPO / "conf" / "local.yaml"))
    monkeypatch.setenv("SAMPLEGEN_RUN_ID", "e1")
    monkeypatch.setenv("SAMPLEGEN_SET", "train.epochs=3; evaluate.k=5 ;")
    cfg, run_id = notebook_params({}, require_run_id=True)
    assert (run_id, cfg.train.epochs, cfg.evaluate.k) == ("e1", 3, 5)


def test_missing_run_id_names_the_widget_and_the_previous_notebook(monkeypatch):
    monkeypatch.setenv("SAMPLEGEN_CONF", str(REPO / "conf" / "local.yaml"))
    monkeypatch.delenv("SAMPLEGEN_RUN_ID", raising=False)
    with pytest.raises(ValueError, match="`run_id` widget.*02_train"):
        notebook_params({}, require_run_id=True, previous="02_train")


def test_show_prints_stage_outputs_and_verdicts(capsys):
    result = StageResult(
        stage="evaluate",
        run_id="r",
        seconds=1.5,
        rows={"eval_metrics": 4},
        outputs={"report": "/x/index.html"},
        metrics={"verdict": ["ease: no significant difference"]},
    )
    show([result])
    out = capsys.readouterr().out
    assert "evaluate: done in 1.5s" in out
    assert "report: /x/index.html" in out
    assert "verdict: ease: no significant difference" in out


def test_the_run_id_travels_between_job_tasks_as_a_task_value():
    conf = str(REPO / "conf" / "local.yaml")
    store = {}
    _, made = notebook_params({"dbutils": DBUtils({"conf": conf}, "aggregate", store)}, False)
    assert store[("aggregate", "run_id")] == made
    _, later = notebook_params(
        {"dbutils": DBUtils({"conf": conf}, "train", store)}, True, previous="01_aggregate"
    )
    assert later == made
    # a run id in the widget wins over the task value
    _, given = notebook_params(
        {"dbutils": DBUtils({"conf": conf, "run_id": "w2"}, "train", store)}, True
    )
    assert given == "w2"


def test_no_task_value_and_no_widget_still_names_the_widget():
    dbutils = DBUtils({"conf": str(REPO / "conf" / "local.yaml")}, "train", {})
    with pytest.raises(ValueError, match="`run_id` widget"):
        notebook_params({"dbutils": dbutils}, require_run_id=True)


def test_a_recipe_widget_lays_the_recipe_over_the_conf(tmp_path, monkeypatch):
    monkeypatch.delenv("SAMPLEGEN_RECIPE", raising=False)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("generate: {items_per_user: 7}\nrecipe: {beats_real: false, trial: 2}\n")
    values = {"conf": str(REPO / "conf" / "local.yaml"), "run_id": "w1", "recipe": str(recipe)}
    cfg, _ = notebook_params({"dbutils": DBUtils(values)}, require_run_id=True)
    assert cfg.generate.items_per_user == 7 and cfg.recipe.declines() is not None
    monkeypatch.setenv("SAMPLEGEN_CONF", str(REPO / "conf" / "local.yaml"))
    monkeypatch.setenv("SAMPLEGEN_RECIPE", str(recipe))
    cfg, _ = notebook_params({}, require_run_id=False)
    assert cfg.recipe.trial == 2
    monkeypatch.setenv("SAMPLEGEN_RECIPE", "")
    assert notebook_params({}, require_run_id=False)[0].recipe.beats_real is None
