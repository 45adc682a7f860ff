"""Optional MLflow tracking of a finished training: params, per-epoch metrics, the model.

Logged from the driver after TorchDistributor returns, from the model folder rank 0 wrote,
so training processes need no tracking server access. Enabled by ``train.mlflow_experiment``;
the tracking server is MLflow's usual ``MLFLOW_TRACKING_URI`` (on Databricks, the workspace).
The model is logged twice: the model folder as plain artifacts (what ``samplegen generate``
reads) and the torch module through ``mlflow.pytorch.log_model``, registered under
``train.registered_model`` when set (a three-part name goes to Unity Catalog). Works with the
MLflow 2.x and 3.x lines (the ``tracking`` extra accepts both).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from samplegen.models.store import (
    CONFIG_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    read_generator,
    read_history,
)

if TYPE_CHECKING:
    from samplegen.train.spec import TrainSpec


def require_mlflow(experiment: str | None) -> None:
    """Fail before training when tracking is configured but mlflow is not installed."""
    if experiment is None:
        return
    try:
        import mlflow  # noqa: F401
    except ImportError as err:
        raise RuntimeError(
            f"train.mlflow_experiment is {experiment!r} but mlflow is not installed; "
            "install it with: pip install 'samplegen[tracking]' (or unset the key)"
        ) from err


def _flat_params(spec: TrainSpec) -> dict[str, str]:
    """Training settings and model params, minus per-item lists and file lists."""
    params = {f"model.{k}": v for k, v in spec.params.items() if k not in ("item_categories",)}
    return {k: json.dumps(v)[:500] for k, v in (spec.settings() | params).items()}


def log_training(
    experiment: str,
    run_id: str,
    spec: TrainSpec,
    model_dir: Path,
    registered_model: str | None = None,
) -> str:
    """Log one MLflow run named after ``run_id``; returns the MLflow run id."""
    import mlflow

    history = read_history(model_dir)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"samplegen-{run_id}-{spec.model}") as run:
        mlflow.set_tag("samplegen.run_id", run_id)
        mlflow.log_params(_flat_params(spec))
        for record in history:
            metrics = {
                k: float(v)
                for k, v in record.items()
                if isinstance(v, int | float) and not isinstance(v, bool) and k != "epoch"
            }
            mlflow.log_metrics(metrics, step=int(record["epoch"]))
        for name in (MODEL_FILE, CONFIG_FILE, HISTORY_FILE):
            mlflow.log_artifact(str(model_dir / name), artifact_path="model")
        log_torch_model(model_dir, spec, registered_model)
        return run.info.run_id


def log_torch_model(model_dir: Path, spec: TrainSpec, registered_model: str | None) -> None:
    """Log the trained torch module with ``mlflow.pytorch`` (and register it when named).

    Unity Catalog only registers models with a signature: interaction generators get one over
    their ``[users, n_items]`` float rows. The pip requirements are given, not inferred (MLflow
    would reload the model in a subprocess to guess them).
    """
    import mlflow
    import mlflow.pytorch
    import torch

    in_unity_catalog = registered_model is not None and registered_model.count(".") == 2
    if in_unity_catalog and mlflow.get_tracking_uri().startswith("databricks"):
        mlflow.set_registry_uri("databricks-uc")
    signature = None
    if "n_items" in spec.params:
        import numpy as np
        from mlflow.models import ModelSignature
        from mlflow.types import Schema, TensorSpec

        rows = TensorSpec(np.dtype("float32"), (-1, int(spec.params["n_items"])))
        signature = ModelSignature(inputs=Schema([rows]), outputs=Schema([rows]))
    # MLflow 3 names a logged model with `name`; 2.x with `artifact_path` (deprecated in 3).
    where = "name" if int(mlflow.__version__.split(".")[0]) >= 3 else "artifact_path"
    mlflow.pytorch.log_model(
        read_generator(model_dir).module,
        **{where: "pytorch_model"},
        signature=signature,
        registered_model_name=registered_model,
        pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
    )
