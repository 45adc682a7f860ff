"""Every interaction model trains with TorchDistributor in Spark tasks (2 gloo ranks, barrier mode).

The pipeline fixture covers Mult-VAE through petastorm; here the conditional GAN reads through
the Arrow loader, the conditional VAE through petastorm with MLflow tracking on, and the
tabular generator loads its ranks' ``samples_ctr`` rows, all on the same aggregated tables.
"""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pyspark.sql import functions as F

from samplegen.evaluate.ctr import ctr_splits
from samplegen.features.text import with_text_embeddings
from samplegen.generate import run_generate
from samplegen.generate.label_balance import label_balance
from samplegen.models import REGISTRY, Generator
from samplegen.tables import (
    ITEM_FEATURES,
    SAMPLES_CTR,
    SYNTHETIC_CTR,
    SYNTHETIC_INTERACTIONS,
    USER_FEATURES,
    read_table,
    write_table,
)
from samplegen.train import build_spec, run_train
from tests.conftest import HAS_PETASTORM

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.mark.parametrize(
    "model, loader, tracked",
    [("gan", "arrow", False), ("cvae", "petastorm" if HAS_PETASTORM else "arrow", True)],
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
            registered_model="samplegen_test_cvae" if tracked else None,
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
        import mlflow.pytorch

        run = mlflow.get_run(result.outputs["mlflow_run_id"])
        assert run.data.params["model"] == '"cvae"'
        assert run.data.tags["samplegen.run_id"] == "cvae-run"
        assert "valid_score" in run.data.metrics and "nll" in run.data.metrics
        artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "model")}
        assert artifacts == {"model/model.pt", "model/config.json", "model/history.json"}
        # The torch module through mlflow.pytorch, registered, loads back with the same weights.
        [version] = mlflow.MlflowClient().search_model_versions("name='samplegen_test_cvae'")
        assert version.run_id == run.info.run_id
        module = mlflow.pytorch.load_model("models:/samplegen_test_cvae/1")
        for name, tensor in generator.module.state_dict().items():
            assert torch.equal(module.state_dict()[name], tensor), name


def test_gan_trains_with_a_text_condition_and_generates(spark, cfg, pipeline_run, tmp_path):
    """The gan reads item text like the cvae: the embeddings join its condition and weights."""
    lakehouse = tmp_path / "lakehouse"
    shutil.copytree(cfg.lakehouse, lakehouse)
    features = read_table(spark, str(lakehouse), ITEM_FEATURES).drop("text_embedding")
    write_table(with_text_embeddings(features).localCheckpoint(), str(lakehouse), ITEM_FEATURES)
    run_cfg = replace(
        cfg,
        lakehouse=str(lakehouse),
        models_root=str(tmp_path / "models"),
        train=replace(  # one in-process rank: the two-rank gan is the test above
            cfg.train,
            model="gan",
            loader="arrow",
            epochs=1,
            n_categories=5,
            text_condition=True,
            num_processes=1,
            local_mode=True,
        ),
        generate=replace(cfg.generate, strategy="category_balance"),
    )
    result = run_train(spark, run_cfg, "gan-text")
    generator = Generator.load(Path(result.outputs["model_dir"]))
    embedded = read_table(spark, str(lakehouse), ITEM_FEATURES).orderBy("item_idx").toPandas()
    expected = np.stack(embedded["text_embedding"].to_numpy()).astype(np.float32)
    assert torch.equal(generator.module.item_text, torch.from_numpy(expected))
    assert generator.params["text_dim"] == 384
    generated = run_generate(spark, run_cfg, "gan-text")
    rows = read_table(spark, str(lakehouse), SYNTHETIC_INTERACTIONS)
    written = rows.where(F.col("run_id") == "gan-text").count()
    assert written == generated.rows["synthetic_interactions"] > 0


def test_max_steps_per_epoch_caps_an_epoch(spark, cfg, pipeline_run):
    small_batches = replace(cfg.train, batch_size=8, num_processes=2)
    natural = build_spec(spark, replace(cfg, train=small_batches), "steps").steps_per_epoch
    assert natural > 3
    capped = replace(small_batches, max_steps_per_epoch=3)
    assert build_spec(spark, replace(cfg, train=capped), "steps").steps_per_epoch == 3
    roomy = replace(small_batches, max_steps_per_epoch=natural + 5)
    assert build_spec(spark, replace(cfg, train=roomy), "steps").steps_per_epoch == natural


def test_tabular_fits_user_features_and_samples_profiles(spark, cfg, pipeline_run, tmp_path):
    tabular = replace(
        cfg.train.tabular,
        table="user_features",
        discrete_columns=["top_category"],
        continuous_columns=["n_events", "days_since_last", "mean_price"],
        batch_size=50,
    )
    run_cfg = replace(
        cfg,
        models_root=str(tmp_path / "models"),
        train=replace(
            cfg.train, model="tabular", loader="arrow", epochs=2, num_processes=1, tabular=tabular
        ),
        generate=replace(cfg.generate, strategy="label_balance"),
    )
    result = run_train(spark, run_cfg, "profiles")
    real = read_table(spark, cfg.lakehouse, USER_FEATURES).toPandas()
    assert result.rows["training_rows"] == len(real)
    generator = Generator.load(result.outputs["model_dir"])
    rows = generator.sample(200, seed=3)
    assert list(rows.columns) == ["top_category", "n_events", "days_since_last", "mean_price"]
    assert set(rows["top_category"].dropna()) <= set(real["top_category"].dropna())
    assert (
        rows["n_events"].between(real["n_events"].min() - 1, real["n_events"].max() + 1).mean()
        > 0.9
    )
    common = real["top_category"].value_counts().index[0]
    profiles = generator.sample(20, seed=4, condition={"top_category": common})
    assert set(profiles["top_category"]) == {common}
    with pytest.raises(ValueError, match="train.tabular.table=samples_ctr"):
        run_generate(spark, run_cfg, "profiles")


def test_tabular_trains_on_samples_ctr_rows_on_two_processes(spark, cfg, pipeline_run, tmp_path):
    tabular = replace(cfg.train.tabular, batch_size=500, fit_rows=2000)
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

    # label_balance: the rarer label's rows from this model, up to a 60% share.
    balance = replace(run_cfg, generate=replace(cfg.generate, strategy="label_balance",
                                                label_target_share=0.6))  # fmt: skip
    generated = run_generate(spark, balance, "tabular-run")
    m = generated.metrics
    counts = {r.label: r["count"] for r in ctr.groupBy("label").count().collect()}
    minority = min(counts, key=lambda label: (counts[label], label))
    assert m["minority_label"] == minority and m["target_label_share"] == 0.6
    written = read_table(spark, cfg.lakehouse, SYNTHETIC_CTR)
    written = written.where(F.col("run_id") == "tabular-run")
    n = written.count()
    assert n == generated.rows["synthetic_ctr"] > 0
    assert (counts[minority] + n) / (ctr.count() + n) == pytest.approx(0.6, abs=1e-3)
    assert m["achieved_label_share"] == pytest.approx(0.6, abs=1e-3)
    rows = written.toPandas()
    assert set(rows["label"]) == {minority} and sorted(rows["row"]) == list(range(n))
    assert set(rows["strategy"]) == {"label_balance"} and set(rows["model"]) == {"tabular"}
    assert set(rows["department"].dropna()) <= real_departments
    again, _ = label_balance(spark, read_table(spark, cfg.lakehouse, SAMPLES_CTR),
                             result.outputs["model_dir"], 0.6, cfg.generate.seed)  # fmt: skip
    # The CTR classifiers' rows read these as the augmented variant's train rows (the scoring
    # itself, about a minute here, is test_ctr_evaluate.py's on its own tables).
    splits = ctr_splits(spark, balance, "tabular-run")
    assert splits.n_synthetic == n and splits.synthetic_labels == {minority: n}
    assert splits.augmented_train.count() == ctr.count() + n
    first = rows.sort_values("row")[["department", "price"]].reset_index(drop=True)
    second = again.toPandas().sort_values("row")[["department", "price"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, second)


def test_patience_travels_with_the_validation_in_the_spec(spark, cfg, pipeline_run):
    patient = replace(cfg, train=replace(cfg.train, patience=4))
    spec = build_spec(spark, patient, "patient")
    assert spec.validation is not None and spec.validation.patience == 4
    assert type(spec).from_json(spec.to_json()).validation.patience == 4
