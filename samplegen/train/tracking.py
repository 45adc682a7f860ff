"""Optional MLflow tracking of a finished training: params, per-epoch metrics, the model.

Logged from the driver after TorchDistributor returns, from the model folder rank 0 wrote,
so training processes need no tracking server access. Enabled by ``train.mlflow_experiment``;
the tracking server is MLflow's usual ``MLFLOW_TRACKING_URI`` (on Databricks, the workspace).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from samplegen.models.store import CONFIG_FILE, HISTORY_FILE, MODEL_FILE, read_history

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


def log_training(experiment: str, run_id: str, spec: TrainSpec, model_dir: Path) -> str:
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
        return run.info.run_id
