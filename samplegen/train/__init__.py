"""Stage 2 (train): fit a generator on the training view across processes with TorchDistributor.

Spark is imported lazily so that :mod:`samplegen.train.distributed` runs on machines without it.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from samplegen.models.store import ITEM_TEXT_FILE, has_model, model_dir, read_history
from samplegen.registry import TABULAR, generator
from samplegen.runinfo import LOG, StageResult, declined, stage_timer
from samplegen.train.spec import TrainData, TrainSpec, ValidationSpec

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from samplegen.config import Config

__all__ = ["build_spec", "model_dir", "model_params", "run_train"]


def item_categories(spark: SparkSession, cfg: Config) -> tuple[list[int], list[str]]:
    """Each item's category index and the category names, for conditional models.

    The ``train.n_categories - 1`` categories with the most vocabulary items keep their own
    index (ties by name); the rest, and items without a category, share "other".
    """
    from samplegen.tables import ITEM_INDEX, read_table, table_store

    items = read_table(spark, table_store(cfg), ITEM_INDEX).select("item_idx", "category")
    frame = items.toPandas().sort_values("item_idx")
    counts = frame["category"].dropna().value_counts()
    ranked = sorted(counts.index, key=lambda name: (-counts[name], name))
    keep = ranked if len(ranked) <= cfg.train.n_categories else ranked[: cfg.train.n_categories - 1]
    names = [*keep, "other"] if len(keep) < len(ranked) or frame["category"].isna().any() else keep
    index = {name: i for i, name in enumerate(keep)}
    other = len(keep)
    return [index.get(c, other) for c in frame["category"]], names


def write_item_text(spark: SparkSession, cfg: Config, folder: Path) -> tuple[Path, int]:
    """Save ``item_features.text_embedding`` in ``item_idx`` order in ``folder``.

    Raises:
        ValueError: when ``item_features`` has no text embeddings.
    """
    from samplegen.tables import ITEM_FEATURES, read_table, table_store

    frame = (
        read_table(spark, table_store(cfg), ITEM_FEATURES)
        .select("item_idx", "text_embedding")
        .toPandas()
        .sort_values("item_idx")
    )
    if frame["text_embedding"].isna().any():
        raise ValueError(
            "train.text_condition needs item_features.text_embedding: run aggregate with "
            "aggregate.text_embeddings=true"
        )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ITEM_TEXT_FILE
    matrix = np.stack([np.asarray(e, dtype=np.float32) for e in frame["text_embedding"]])
    np.save(path, matrix)
    return path, matrix.shape[1]


def model_params(
    spark: SparkSession, cfg: Config, n_items: int, folder: Path | None = None
) -> dict[str, Any]:
    """The plain params that rebuild ``train.model`` (see each model's docstring).

    ``folder`` is the model's folder, where a text condition (cvae, gan) is saved for training.
    """
    from samplegen.models.multvae import VAE_SETTINGS

    train = cfg.train
    params: dict[str, Any] = {"n_items": n_items}
    if train.model in ("multvae", "cvae"):
        params |= {name: getattr(train, name) for name in VAE_SETTINGS}
    if train.model in ("cvae", "gan"):
        params["item_categories"], params["categories"] = item_categories(spark, cfg)
    if train.text_condition:
        if folder is None:
            raise ValueError("train.text_condition needs the model folder to save the item text")
        path, params["text_dim"] = write_item_text(spark, cfg, folder)
        params["item_text_file"] = str(path.resolve())
    if train.model == "gan":
        params |= dataclasses.asdict(train.gan)
    return params


def _interaction_data(spark: SparkSession, cfg: Config, run_id: str) -> TrainData:
    """Training view files, sizes and validation users for an interaction model."""
    from samplegen.tables import INTERACTIONS, ITEM_INDEX, TRAINING_VIEW, read_table, table_store

    view = read_table(spark, table_store(cfg), TRAINING_VIEW)
    n_users = view.count()
    n_items = read_table(spark, table_store(cfg), ITEM_INDEX).count()
    train = cfg.train
    files = sorted(view.inputFiles())
    validation = None
    if train.validation_k > 0:
        valid = read_table(spark, table_store(cfg), INTERACTIONS["valid"])
        validation = ValidationSpec(
            view_files=files,
            valid_files=sorted(valid.inputFiles()),
            max_users=train.validation_users,
            k=train.validation_k,
            patience=train.patience,
        )
    return TrainData(
        params=model_params(spark, cfg, n_items, model_dir(cfg, run_id)),
        files=files,
        n_rows=n_users,
        batch_size=train.batch_size,
        validation=validation,
    )


def _tabular_data(spark: SparkSession, cfg: Config) -> TrainData:
    """The rows of ``train.tabular.table``, and the transformer fitted on a seeded sample.

    ``samples_ctr`` contributes its train split; the other feature tables all their rows
    (see :data:`samplegen.tables.TABULAR_TRAIN_ROWS`).
    """
    from pyspark.sql import functions as F

    from samplegen.models.tabular import TABULAR_SIZES, TabularGAN
    from samplegen.tables import TABULAR_SOURCES, TABULAR_TRAIN_ROWS, read_table, table_store

    tabular = cfg.train.tabular
    columns = [*tabular.discrete_columns, *tabular.continuous_columns]
    source = TABULAR_SOURCES[tabular.table]
    table = read_table(spark, table_store(cfg), source)
    missing = sorted(set(columns) - set(table.columns))
    if missing:
        raise ValueError(
            f"{source.name} has no column(s) {', '.join(missing)} "
            "(train.tabular.discrete_columns / continuous_columns)"
        )
    train_rows = TABULAR_TRAIN_ROWS.get(source.name)
    where = tuple(train_rows) if train_rows else None
    rows = (table.where(F.col(where[0]) == where[1]) if where else table).select(columns)
    n_rows = rows.count()
    if n_rows == 0:
        raise ValueError(
            f"{source.name} has no rows to train on; run aggregate first (with "
            "aggregate.samples_ctr=true when train.tabular.table=samples_ctr)"
        )
    fraction = min(1.0, tabular.fit_rows / n_rows)
    sample = rows.sample(fraction=fraction, seed=cfg.train.seed).toPandas()
    generator = TabularGAN.from_frame(
        sample,
        tabular.discrete_columns,
        params={name: getattr(tabular, name) for name in TABULAR_SIZES},
        seed=cfg.train.seed,
    )
    return TrainData(
        params=generator.params,
        files=sorted(table.inputFiles()),
        n_rows=n_rows,
        batch_size=tabular.batch_size,
        columns=columns,
        where=where,
    )


def build_spec(spark: SparkSession, cfg: Config, run_id: str) -> TrainSpec:
    """Everything the training processes need, as plain values."""
    train = cfg.train
    if generator(train.model).family == TABULAR:
        data = _tabular_data(spark, cfg)
    else:
        data = _interaction_data(spark, cfg, run_id)
    rows_per_rank = math.ceil(data.n_rows / train.num_processes)
    steps = max(1, math.ceil(rows_per_rank / data.batch_size))
    if train.max_steps_per_epoch is not None:
        steps = min(steps, train.max_steps_per_epoch)
    return TrainSpec(
        model=train.model,
        params=data.params,
        files=data.files,
        loader=train.loader,
        batch_size=data.batch_size,
        epochs=train.epochs,
        steps_per_epoch=steps,
        learning_rate=train.learning_rate,
        weight_decay=train.weight_decay,
        seed=train.seed,
        use_gpu=train.use_gpu,
        allow_tf32=train.allow_tf32,
        output_dir=str(model_dir(cfg, run_id).resolve()),
        n_rows=data.n_rows,
        validation=data.validation,
        columns=data.columns,
        where=data.where,
    )


def run_train(spark: SparkSession, cfg: Config, run_id: str) -> StageResult:
    """Launch ``train_fn`` with TorchDistributor and record where the model went.

    An interrupted training of this run (checkpoints, no final model) resumes from its last
    epoch; a finished one is replaced by a fresh training (the stage runs again only when
    forced or when its manifest entry is gone). A recipe that recommends not augmenting
    trains nothing (:meth:`~samplegen.config.RecipeConfig.declines`): no GPU time for rows
    that will not be written.
    """
    from pyspark.ml.torch.distributor import TorchDistributor

    from samplegen.train.distributed import train_fn
    from samplegen.train.tracking import log_training, require_mlflow

    result = StageResult(stage="train", run_id=run_id)
    if declined(cfg, result):
        return result
    with stage_timer(result):
        require_mlflow(cfg.train.mlflow_experiment)
        folder = model_dir(cfg, run_id)
        if has_model(folder):
            LOG.info("stage=train run_id=%s event=retrain replacing=%s", run_id, folder)
            shutil.rmtree(folder)
        spec = build_spec(spark, cfg, run_id)
        LOG.info(
            "stage=train model=%s rows=%d processes=%d local_mode=%s loader=%s",
            spec.model,
            spec.n_rows,
            cfg.train.num_processes,
            cfg.train.local_mode,
            spec.loader,
        )
        distributor = TorchDistributor(
            num_processes=cfg.train.num_processes,
            local_mode=cfg.train.local_mode,
            use_gpu=cfg.train.use_gpu,
        )
        output = distributor.run(train_fn, spec)
        if not output:
            raise RuntimeError("training finished but rank 0 returned no model folder")
        history = read_history(output)
        result.outputs = {"model_dir": output}
        result.rows = {"training_rows": spec.n_rows}
        if "n_items" in spec.params:
            result.rows["items"] = spec.params["n_items"]
        validated = [r for r in history if "valid_score" in r]
        best = max(validated, key=lambda r: r["valid_score"], default=None)
        result.metrics = {
            "epochs": len(history),
            "final_loss": history[-1]["loss"] if history else None,
            "first_loss": history[0]["loss"] if history else None,
            "best_epoch": best["epoch"] if best else None,
            f"valid_ndcg@{cfg.train.validation_k}": best["valid_score"] if best else None,
        }
        if cfg.train.mlflow_experiment:
            result.outputs["mlflow_run_id"] = log_training(
                cfg.train.mlflow_experiment,
                run_id,
                spec,
                Path(output),
                registered_model=cfg.train.registered_model,
            )
    return result
