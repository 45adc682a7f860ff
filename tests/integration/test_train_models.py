"""Every interaction model trains with TorchDistributor on local-cluster executors (2 gloo ranks).

The pipeline fixture covers Mult-VAE through petastorm; here the conditional GAN reads through
the Arrow loader, the conditional VAE through petastorm with MLflow tracking on, and the
tabular generator loads its ranks' ``samples_ctr`` rows, all on the same aggregated tables.
"""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from samplegen.models import REGISTRY, Generator
from samplegen.tables import SAMPLES_CTR, SYNTHETIC_INTERACTIONS, read_table
from samplegen.train import run_train

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.mark.parametrize(
    "model, loader, tracked", [("gan", "arrow", False), ("cvae", "petastorm", True)]
)
def test_model_trains_on_two_executor_processes(
    spark, cfg, pipeline_run, tmp_path, monkeypatch, model, loader, tracked
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    run_cfg = replace(
        cfg,
        models_root=str(tmp_path / "models"),
        train=replace(
            cfg.train,
            model=model,
            loader=loader,
            epochs=2,
            n_categories=5,
            mlflow_experiment="samplegen-test" if tracked else None,
        ),
    )
    result = run_train(spark, run_cfg, f"{model}-run")

    model_dir = Path(result.outputs["model_dir"])
    history = json.loads((model_dir / "history.json").read_text())
    assert [r["epoch"] for r in history] == [0, 1]
    assert all(set(REGISTRY[model].loss_terms) <= set(r) for r in history)
    assert all(0 < r["valid_score"] <= 1 for r in history)
    best = max(history, key=lambda r: r["valid_score"])
    assert result.metrics["best_epoch"] == best["epoch"]
    assert result.metrics["valid_ndcg@100"] == best["valid_score"]
    generator = Generator.load(model_dir)
    assert isinstance(generator, REGISTRY[model])
    assert len(generator.categories) == 5
    synthetic = read_table(spark, cfg.lakehouse, SYNTHETIC_INTERACTIONS)
    assert synthetic.where(F.col("run_id") == f"{model}-run").count() == 0
    if tracked:
        import mlflow

        run = mlflow.get_run(result.outputs["mlflow_run_id"])
        assert run.data.params["model"] == '"cvae"'
        assert run.data.tags["samplegen.run_id"] == "cvae-run"
        assert "valid_score" in run.data.metrics and "nll" in run.data.metrics
        artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "model")}
        assert artifacts == {"model/model.pt", "model/config.json", "model/history.json"}


def test_tabular_trains_on_samples_ctr_rows_on_two_processes(spark, cfg, pipeline_run, tmp_path):
    tabular = replace(cfg.train.tabular, batch_size=100, fit_rows=2000)
    run_cfg = replace(
        cfg,
        models_root=str(tmp_path / "models"),
        train=replace(cfg.train, model="tabular", loader="arrow", epochs=2, tabular=tabular),
    )
    result = run_train(spark, run_cfg, "tabular-run")

    ctr = read_table(spark, cfg.lakehouse, SAMPLES_CTR).where(F.col("split") == "train")
    assert result.rows["training_rows"] == ctr.count()
    history = json.loads(Path(result.outputs["model_dir"], "history.json").read_text())
    assert [r["epoch"] for r in history] == [0, 1]
    assert all(np.isfinite(r[t]) for r in history for t in REGISTRY["tabular"].loss_terms)
    generator = Generator.load(result.outputs["model_dir"])
    rows = generator.sample(300, seed=1)
    assert list(rows.columns) == [*tabular.discrete_columns, *tabular.continuous_columns]
    real_departments = {r.department for r in ctr.select("department").distinct().collect()}
    assert set(rows["department"].dropna()) <= real_departments
    assert set(generator.sample(50, seed=2, condition={"label": 1})["label"]) == {1}
