"""Stage 2 (train): fit a generator on the training view across processes with TorchDistributor.

Spark is imported lazily so that :mod:`samplegen.train.distributed` runs on machines without it.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from samplegen.runinfo import LOG, StageResult, stage_timer

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from samplegen.config import Config


def model_dir(cfg: Config, run_id: str) -> Path:
    """``<models_root>/<model>/<run_id>``: where a run's model and checkpoints live."""
    return Path(cfg.models_root) / cfg.train.model / run_id


def build_spec(spark: SparkSession, cfg: Config, run_id: str) -> dict[str, Any]:
    """Everything the training processes need, as plain values."""
    from samplegen.tables import ITEM_INDEX, TRAINING_VIEW, read_table

    view = read_table(spark, cfg.lakehouse, TRAINING_VIEW)
    n_users = view.count()
    n_items = read_table(spark, cfg.lakehouse, ITEM_INDEX).count()
    train = cfg.train
    rows_per_rank = math.ceil(n_users / train.num_processes)
    return {
        "model": train.model,
        "n_items": n_items,
        "n_users": n_users,
        "params": {
            "hidden_dims": train.hidden_dims,
            "dropout": train.dropout,
            "beta_cap": train.beta_cap,
            "anneal_steps": train.anneal_steps,
        },
        "files": sorted(view.inputFiles()),
        "loader": train.loader,
        "batch_size": train.batch_size,
        "epochs": train.epochs,
        "steps_per_epoch": max(1, math.ceil(rows_per_rank / train.batch_size)),
        "learning_rate": train.learning_rate,
        "weight_decay": train.weight_decay,
        "seed": train.seed,
        "use_gpu": train.use_gpu,
        "allow_tf32": train.allow_tf32,
        "output_dir": str(model_dir(cfg, run_id).resolve()),
    }


def run_train(spark: SparkSession, cfg: Config, run_id: str) -> StageResult:
    """Launch ``train_fn`` with TorchDistributor and record where the model went.

    An interrupted training of this run (checkpoints, no final model) resumes from its last
    epoch; a finished one is replaced by a fresh training (the stage runs again only when
    forced or when its manifest entry is gone).
    """
    from pyspark.ml.torch.distributor import TorchDistributor

    from samplegen.train.distributed import train_fn

    result = StageResult(stage="train", run_id=run_id)
    with stage_timer(result):
        folder = model_dir(cfg, run_id)
        if (folder / "model.pt").exists():
            LOG.info("stage=train run_id=%s event=retrain replacing=%s", run_id, folder)
            shutil.rmtree(folder)
        spec = build_spec(spark, cfg, run_id)
        LOG.info(
            "stage=train model=%s users=%d items=%d processes=%d local_mode=%s loader=%s",
            spec["model"],
            spec["n_users"],
            spec["n_items"],
            cfg.train.num_processes,
            cfg.train.local_mode,
            spec["loader"],
        )
        distributor = TorchDistributor(
            num_processes=cfg.train.num_processes,
            local_mode=cfg.train.local_mode,
            use_gpu=cfg.train.use_gpu,
        )
        output = distributor.run(train_fn, spec)
        if not output:
            raise RuntimeError("training finished but rank 0 returned no model folder")
        history = json.loads((Path(output) / "history.json").read_text())
        result.outputs = {"model_dir": output}
        result.rows = {"training_users": spec["n_users"], "items": spec["n_items"]}
        result.metrics = {
            "epochs": len(history),
            "final_loss": history[-1]["loss"] if history else None,
            "first_loss": history[0]["loss"] if history else None,
        }
    return result
