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


class DBUtils:
    def __init__(self, values):
        self.widgets = Widgets(values)


def test_widgets_win_on_databricks(monkeypatch):
    monkeypatch.setenv("SAMPLEGEN_RUN_ID", "from-env")
    dbutils = DBUtils(
        {"conf": str(REPO / "conf" / "local.yaml"), "run_id": "w1", "overrides": "train.epochs=2"}
    )
    cfg, run_id = notebook_params({"dbutils": dbutils}, require_run_id=True)
    assert run_id == "w1"
    assert cfg.train.epochs == 2
    assert set(dbutils.widgets.declared) == {"conf", "run_id", "overrides"}


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
