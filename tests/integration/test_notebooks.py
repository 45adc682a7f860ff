"""The Databricks notebooks, executed cell by cell against the small config with real Spark.

Each notebook runs in one namespace pre-filled with ``spark`` (as on Databricks, where the
session is a global); there is no ``dbutils`` here, so the notebooks read their parameters from
``SAMPLEGEN_CONF``, ``SAMPLEGEN_RUN_ID`` and ``SAMPLEGEN_SET``. Outputs go to a tmp folder of
this module, apart from the shared ``pipeline_run`` fixture's tables.
"""

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

pytestmark = [pytest.mark.spark, pytest.mark.slow]

NOTEBOOKS = REPO / "notebooks"
STAGE_NOTEBOOKS = {
    "01_aggregate": "aggregate",
    "02_train": "train",
    "03_generate": "generate",
    "04_evaluate": "evaluate",
}
ALL_NOTEBOOKS = [*STAGE_NOTEBOOKS, "quickstart"]
HEADER = "# Databricks notebook source"
SEPARATOR = "# COMMAND ----------"
PIP_CELL = '# MAGIC %pip install --quiet "..[tracking]"'


def notebook_cells(name: str) -> list[str]:
    """The notebook's cells as source text, header line dropped."""
    lines = (NOTEBOOKS / f"{name}.py").read_text().splitlines()
    assert lines[0] == HEADER, f"{name}.py must start with {HEADER!r}"
    cells: list[list[str]] = [[]]
    for line in lines[1:]:
        if line == SEPARATOR:
            cells.append([])
        else:
            cells[-1].append(line)
    return ["\n".join(cell) for cell in cells]


def cell_code(cell: str) -> str:
    return "\n".join(line for line in cell.splitlines() if not line.startswith("# MAGIC"))


def run_cells(name: str, namespace: dict, upto: int | None = None) -> dict:
    """Execute the notebook's cells (the first ``upto`` of them) in order in ``namespace``."""
    for index, cell in enumerate(notebook_cells(name)[:upto]):
        exec(compile(cell_code(cell), f"{name}.py[cell {index}]", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def notebook_conf(cfg, tmp_path_factory) -> Path:
    """A smaller test config as a YAML file, every output under a fresh tmp folder."""
    root = tmp_path_factory.mktemp("notebooks")
    raw = cfg.to_dict() | {
        "lakehouse": str(root / "lakehouse"),
        "models_root": str(root / "models"),
        "reports_root": str(root / "reports"),
    }
    # Smaller than the shared run: these tests check the notebooks' wiring, not the models.
    raw["data"]["max_users"] = 60
    raw["aggregate"] |= {"top_n_items": 300, "samples_ctr": False}
    # One training process on the driver: TorchDistributor on executors is the shared run's.
    raw["train"] |= {"epochs": 2, "num_processes": 1, "local_mode": True}
    raw["evaluate"] |= {"recommenders": ["popularity", "ease"], "dose_ratios": [1.0], "repeats": 1}
    path = root / "small.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def notebook_env(monkeypatch, notebook_conf):
    """Set the notebooks' environment variables; returns a setter for the run id and overrides."""
    monkeypatch.setenv("SAMPLEGEN_CONF", str(notebook_conf))
    monkeypatch.delenv("SAMPLEGEN_RUN_ID", raising=False)
    monkeypatch.delenv("SAMPLEGEN_SET", raising=False)

    def set_env(run_id: str | None = None, overrides: str | None = None) -> None:
        if run_id is not None:
            monkeypatch.setenv("SAMPLEGEN_RUN_ID", run_id)
        if overrides is not None:
            monkeypatch.setenv("SAMPLEGEN_SET", overrides)

    return set_env


@pytest.mark.parametrize("name", ALL_NOTEBOOKS)
def test_notebook_is_databricks_source_that_only_calls_the_library(name):
    cells = notebook_cells(name)
    assert len(cells) >= 5, "pip, markdown, parameters, stage call and display cells"
    # A cluster gets samplegen from the first cell (a comment, so a no-op when run here).
    assert [line for line in cells[0].splitlines() if line.strip()] == [PIP_CELL]
    markdown = [line for line in cells[1].splitlines() if line.strip()]
    assert markdown[0] == "# MAGIC %md"
    assert all(line.startswith("# MAGIC") for line in markdown)
    for cell in cells[2:]:
        assert "# MAGIC" not in cell, "markdown belongs in the second cell"
    for index, cell in enumerate(cells):
        tree = ast.parse(cell_code(cell), filename=f"{name}.py[cell {index}]")
        defined = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)]
        assert not defined, "notebooks call the library; functions belong in samplegen/"
    code = "\n".join(cell_code(cell) for cell in cells)
    required = "False" if name in ("01_aggregate", "quickstart") else "True"
    assert f"cfg, run_id = notebook_params(globals(), require_run_id={required}" in code
    if name == "quickstart":
        assert "run_pipeline(spark, cfg, run_id)  # noqa: F821" in code
    else:
        call = f'run_stages(spark, cfg, run_id, ["{STAGE_NOTEBOOKS[name]}"])  # noqa: F821'
        assert call in code


@pytest.mark.parametrize("name", ["01_aggregate", "quickstart"])
def test_a_new_run_id_is_made_when_none_is_given(name, notebook_env, capsys):
    namespace = run_cells(name, {}, upto=3)  # pip, markdown, parameters
    assert re.fullmatch(r"\d{8}T\d{6}-[0-9a-f]{6}", namespace["run_id"])
    assert namespace["cfg"].lakehouse.endswith("lakehouse")
    assert f"run_id: {namespace['run_id']}" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["02_train", "03_generate", "04_evaluate"])
def test_later_stages_require_a_run_id(name, notebook_env):
    with pytest.raises(ValueError, match=r"`run_id` widget .*SAMPLEGEN_RUN_ID"):
        run_cells(name, {}, upto=3)


@pytest.mark.drill  # a second whole pipeline: make test-drills
def test_stage_notebooks_run_the_pipeline_in_order(spark, notebook_env, capsys):
    notebook_env(run_id="nb-stages")
    for name, stage in STAGE_NOTEBOOKS.items():
        namespace = run_cells(name, {"spark": spark})
        out = capsys.readouterr().out
        result = namespace["result"]
        assert (result.stage, result.run_id, result.status) == (stage, "nb-stages", "done")
        assert f"{stage}: done in " in out, out
        for location in result.outputs.values():
            assert f": {location}" in out
    assert out.count("verdict: ") == len(result.metrics["verdict"]) > 0
    reports = Path(namespace["cfg"].reports_root)
    manifest = json.loads((reports / "nb-stages" / "manifest.json").read_text())
    assert {s: r["status"] for s, r in manifest["stages"].items()} == dict.fromkeys(
        STAGE_NOTEBOOKS.values(), "done"
    )
    assert (reports / "nb-stages" / "index.html").exists()


@pytest.mark.drill  # a second whole pipeline: make test-drills
def test_quickstart_runs_the_whole_pipeline_with_overrides(spark, notebook_env, capsys):
    notebook_env(run_id="nb-quick", overrides="generate.items_per_user=3; evaluate.k=10")
    namespace = run_cells("quickstart", {"spark": spark})
    out = capsys.readouterr().out
    results = namespace["results"]
    assert [r.stage for r in results] == list(STAGE_NOTEBOOKS.values())
    assert {r.status for r in results} == {"done"}
    for stage in STAGE_NOTEBOOKS.values():
        assert f"{stage}: done in " in out, out
    verdicts = results[-1].metrics["verdict"]
    assert verdicts and out.count("verdict: ") == len(verdicts)
    assert all("NDCG@10" in line for line in verdicts)
    cfg = namespace["cfg"]
    assert (cfg.generate.items_per_user, cfg.evaluate.k) == (3, 10)
    reports = Path(cfg.reports_root)
    assert (reports / "nb-quick" / "index.html").exists()
    manifest = json.loads((reports / "nb-quick" / "manifest.json").read_text())
    assert manifest["config"]["generate"]["items_per_user"] == 3
