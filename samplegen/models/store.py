"""Where trained models live and how they are written and read: the one home of the layout.

A run's model folder is ``<models_root>/<model>/<run_id>``. Rank 0 of training writes
:data:`MODEL_FILE` (weights, tensors only), :data:`CONFIG_FILE` (the generator's name and plain
params, the whole recipe to rebuild it), :data:`HISTORY_FILE` (one record per epoch) and,
for a text condition, :data:`ITEM_TEXT_FILE`; checkpoints go under :data:`CHECKPOINTS`.
Generation and evaluation read the folder back through :func:`require_model` and
:func:`load_generator`. A folder with only one of :data:`MODEL_FILE` and :data:`CONFIG_FILE`, a
config that is not JSON or weights that do not load are damaged state: a
:class:`~samplegen.state.DamagedStateError` names the file and the retraining command.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from samplegen.ids import path_under
from samplegen.locations import local_folder
from samplegen.registry import generator
from samplegen.state import DamagedStateError, short_reason

if TYPE_CHECKING:
    from samplegen.config import Config
    from samplegen.models.base import Generator

#: The trained weights (a state dict of tensors, read with ``weights_only=True``).
MODEL_FILE = "model.pt"
#: ``{"name": ..., "params": ...}``: what rebuilds the generator before its weights load.
CONFIG_FILE = "config.json"
#: Per-epoch training records (loss terms, samples/s, validation score).
HISTORY_FILE = "history.json"
#: Item text embeddings in ``item_idx`` order, for a text condition (cvae, gan).
ITEM_TEXT_FILE = "item_text.npy"
#: Sub-folder of the model folder holding the training checkpoints.
CHECKPOINTS = "checkpoints"
#: The last finished epoch's weights, optimizers and step (resume point).
CHECKPOINT_FILE = "checkpoint.pt"
#: The best validated epoch's weights.
BEST_FILE = "best.pt"


def model_dir(cfg: Config, run_id: str) -> Path:
    """``<models_root>/<model>/<run_id>``: where a run's model and checkpoints live.

    ``models_root`` may be a local or mounted folder (a Volume: ``/Volumes/...``) or
    ``dbfs:/...``, which torch writes through the ``/dbfs`` mount.

    Raises:
        IdentifierError: when ``run_id`` would lead outside ``models_root`` (e.g. ``../x``).
    """
    folder = path_under(cfg.models_root, cfg.train.model, run_id, name="run id")
    return Path(local_folder(folder, "models_root"))


def checkpoints_dir(folder: Path) -> Path:
    """Where training writes :data:`CHECKPOINT_FILE` and :data:`BEST_FILE` for ``folder``."""
    return Path(folder) / CHECKPOINTS


def has_model(folder: Path) -> bool:
    """Whether ``folder`` holds a finished model (its weights file)."""
    return (Path(folder) / MODEL_FILE).exists()


def retrain_command(folder: str | Path) -> str:
    """What rebuilds the model folder ``folder`` (``.../<model>/<run_id>``)."""
    return f"`samplegen train --run-id {Path(folder).name} --force` (with the run's --conf)"


def require_model(folder: Path, run_id: str) -> None:
    """Stop with what to run when ``run_id`` has no usable trained model in ``folder``.

    Raises:
        FileNotFoundError: nothing was trained for ``run_id`` (no weights, no config).
        DamagedStateError: the folder has one of the weights and the config but not the other.
    """
    folder = Path(folder)
    present = {name: (folder / name).exists() for name in (MODEL_FILE, CONFIG_FILE)}
    if not any(present.values()):
        raise FileNotFoundError(
            f"no trained model for run {run_id!r} at {folder}; run `samplegen train` first"
        )
    for name, exists in present.items():
        if not exists:
            raise DamagedStateError(
                folder / name,
                "is missing: the model folder is incomplete",
                f"retrain the run with {retrain_command(folder)}",
            )


def read_history(folder: str | Path) -> list[dict]:
    """The per-epoch records of :data:`HISTORY_FILE` in ``folder`` (``[]`` when it is absent).

    Read when training ends (a resumed run appends its new epochs), by MLflow logging, and by a
    resume before it trains, so a damaged file stops the run before the epochs, not after.

    Raises:
        DamagedStateError: the file is not JSON (truncated, hand-edited) or not a list of
            records with an ``epoch``; the repair is retraining the run with ``--force``.
    """
    path = Path(folder) / HISTORY_FILE
    if not path.exists():
        return []
    repair = f"retrain the run with {retrain_command(folder)}"
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DamagedStateError(path, f"is not JSON ({short_reason(err)})", repair) from err
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and "epoch" in r for r in records
    ):
        raise DamagedStateError(path, "is not a list of per-epoch records", repair)
    return records


def save_generator(model: Generator, folder: str | Path) -> None:
    """Write the weights (tensors only) and the plain config needed to rebuild ``model``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.module.state_dict().items()}
    torch.save(state, folder / MODEL_FILE)
    config = {"name": model.name, "params": model.params}
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))


def read_generator(folder: str | Path) -> Generator:
    """Rebuild the generator saved in ``folder`` (eval mode; ``weights_only=True``).

    Raises:
        DamagedStateError: the config or the weights are missing or cannot be read.
    """
    folder = Path(folder)
    repair = f"retrain the run with {retrain_command(folder)}"
    path = folder / CONFIG_FILE
    try:
        config = json.loads(path.read_text())
        model = generator(config["name"]).generator_class()(params=config["params"])
    except (OSError, ValueError, KeyError, TypeError) as err:  # missing, not JSON, not ours
        raise DamagedStateError(path, f"cannot be read ({short_reason(err)})", repair) from err
    path = folder / MODEL_FILE
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, empty, not a torch file: torch raises many types
        raise DamagedStateError(path, f"cannot be read ({short_reason(err)})", repair) from err
    model.module.load_state_dict(state)
    model.module.eval()
    return model


@lru_cache(maxsize=2)
def _cached_generator(folder: str, modified_ns: int) -> Generator:
    torch.set_num_threads(1)
    return read_generator(folder)


def load_generator(folder: str) -> Generator:
    """The generator saved in ``folder``, loaded once per Python worker (one torch thread).

    The cache key includes the weights file's modification time, so a worker that outlives a
    retraining (Spark reuses Python workers) loads the new weights.
    """
    return _cached_generator(folder, (Path(folder) / MODEL_FILE).stat().st_mtime_ns)
