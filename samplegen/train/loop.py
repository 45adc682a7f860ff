"""The one training loop every runtime runs: in process, TorchDistributor and torchrun.

Each rank runs exactly ``steps_per_epoch`` steps per epoch (its batch stream is endless), so
no rank waits at a collective that others never reach. After each epoch rank 0 runs the
optional validation, keeps the best epoch's weights and writes a checkpoint; a rerun with the
same checkpoint folder resumes after the last finished epoch. At the end rank 0's model holds
the best epoch's weights (the last epoch's without validation).

Every checkpoint file (``CHECKPOINT_FILE``, ``BEST_FILE``) carries the sha256 of its content
under :data:`CHECKSUM_KEY` (:func:`state_digest`: tensors' bytes, dtypes and shapes, and the
plain values, in key order), and a resume verifies it. Decision: a checkpoint that cannot be
read (truncated, empty), has no checksum or does not match it is **refused** with a
:class:`~samplegen.state.DamagedStateError` naming the file, never silently discarded or trained
from: deleting the run's checkpoints folder (the error says which) restarts its training from
epoch 0, which a person should choose knowingly, as it costs the epochs already trained.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from samplegen.models.base import distributed
from samplegen.models.store import BEST_FILE, CHECKPOINT_FILE
from samplegen.state import DamagedStateError, short_reason

if TYPE_CHECKING:
    import pandas as pd

    from samplegen.models.base import Generator
    from samplegen.models.tabular import TabularGAN

Validate = Callable[["Generator"], float]

#: Key of the sha256 of a checkpoint file's other content (see :func:`state_digest`).
CHECKSUM_KEY = "sha256"


def _log(message: str) -> None:
    print(f"samplegen train rank={os.environ.get('RANK', '0')} {message}", flush=True)


def _format(record: dict[str, Any]) -> str:
    return " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()
    )


class _Best:
    """The best validation score so far and that epoch's weights (in memory and on disk)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.score = float("-inf")
        self.epoch = -1
        self.weights: dict[str, torch.Tensor] | None = None

    def offer(self, score: float, epoch: int, generator: Generator) -> bool:
        if score <= self.score:
            return False
        self.score, self.epoch = score, epoch
        self.weights = {
            k: v.detach().cpu().clone() for k, v in generator.module.state_dict().items()
        }
        if self.folder is not None:
            _save_checked(self.weights, self.folder / BEST_FILE)
        return True

    def restore(self, state: dict[str, Any]) -> None:
        self.score, self.epoch = float(state["best_score"]), int(state["best_epoch"])
        if self.folder is not None and (self.folder / BEST_FILE).exists():
            self.weights = _load_checked(self.folder / BEST_FILE)


def _atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(obj, partial)
    partial.replace(path)


def _feed(digest: Any, value: Any) -> None:
    """Add ``value`` to ``digest`` unambiguously: type, shape and bytes of every part."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"T{tensor.dtype}{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        digest.update(f"D{len(value)};".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, list | tuple):
        digest.update(f"L{len(value)};".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(f"{type(value).__name__}:{value!r};".encode())


def state_digest(state: Any) -> str:
    """sha256 (hex) of a checkpoint's content: equal content, equal digest, across save/load."""
    digest = hashlib.sha256()
    _feed(digest, state)
    return digest.hexdigest()


def _save_checked(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` with its :func:`state_digest` under :data:`CHECKSUM_KEY`, atomically."""
    _atomic_save({**state, CHECKSUM_KEY: state_digest(state)}, path)


def _load_checked(path: Path) -> dict[str, Any]:
    """The content of a checkpoint file written by :func:`_save_checked`, checksum verified.

    Raises:
        DamagedStateError: the file cannot be read, has no checksum or does not match it.
    """
    repair = (
        f"delete the folder {path.parent} (`rm -r '{path.parent}'`; this run's training then "
        "restarts from epoch 0) or train under a new run id"
    )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, empty, not a torch file: torch raises many types
        problem = f"cannot be read as a checkpoint ({short_reason(err)})"
        raise DamagedStateError(path, problem, repair) from err
    if not isinstance(state, dict) or CHECKSUM_KEY not in state:
        problem = "has no checksum (written by hand or by a samplegen without checksums)"
        raise DamagedStateError(path, problem, repair)
    expected = state.pop(CHECKSUM_KEY)
    if state_digest(state) != expected:
        problem = "does not match its sha256 checksum (it changed after it was written)"
        raise DamagedStateError(path, problem, repair)
    return state


def _load_checkpoint(folder: Path | None, generator: Generator, best: _Best) -> tuple[int, int]:
    """Restore weights, optimizers and the best epoch; return (next epoch, global step).

    Raises:
        DamagedStateError: a checkpoint file is damaged (see :func:`_load_checked`).
        ValueError: the checkpoint is intact but belongs to another model.
    """
    if folder is None or not (folder / CHECKPOINT_FILE).exists():
        return 0, 0
    state = _load_checked(folder / CHECKPOINT_FILE)
    try:
        generator.load_training_state(state)
    except (RuntimeError, KeyError) as err:
        raise ValueError(
            f"the checkpoint in {folder} does not fit this model (different items or layers); "
            "train under a new run id or delete that folder"
        ) from err
    best.restore(state)
    _log(f"event=resume epoch={state['epoch']} step={state['step']} from={folder}")
    return int(state["epoch"]) + 1, int(state["step"])


def _early_stop(stale: bool, device: torch.device) -> bool:
    """Whether to stop: rank 0's ``stale`` (only it validates), told to every rank."""
    if not distributed():
        return stale
    flag = torch.tensor([int(stale)], device=device)
    dist.broadcast(flag, 0)
    return bool(flag.item())


def train_loop(
    generator: Generator,
    batches: Iterator[Any],
    epochs: int,
    steps_per_epoch: int,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.0,
    device: torch.device | None = None,
    checkpoint_dir: Path | None = None,
    validate: Validate | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    patience: int = 0,
) -> list[dict[str, Any]]:
    """Train ``generator`` in place; return one record per epoch run here.

    Args:
        generator: the model; it owns its optimizers and its step.
        batches: an endless stream of what ``generator.prepare_batch`` takes.
        epochs: the epoch to stop after (a resumed run trains only the missing ones).
        steps_per_epoch: steps every rank runs per epoch.
        learning_rate: Adam learning rate (models with their own settings may ignore it).
        weight_decay: Adam weight decay.
        device: where to train (CPU by default).
        checkpoint_dir: where rank 0 writes ``CHECKPOINT_FILE`` and ``BEST_FILE``; resumes from it.
        validate: ``validate(generator) -> score`` (higher is better), run on rank 0 after each
            epoch with the module in eval mode; logged as ``valid_score``.
        on_epoch: called on rank 0 with each epoch's record (e.g. experiment tracking).
        patience: with ``validate``, stop once this many epochs in a row brought no better
            score (early stopping; every rank stops after the same epoch); 0 never stops.

    Under an initialised process group the epoch's loss terms are averaged over ranks; only
    rank 0 validates and writes checkpoints.
    """
    device = device or torch.device("cpu")
    generator.setup_training(learning_rate, weight_decay, device)
    rank = dist.get_rank() if distributed() else 0
    best = _Best(checkpoint_dir)
    start_epoch, step = _load_checkpoint(checkpoint_dir, generator, best)
    terms = generator.loss_terms
    history: list[dict[str, Any]] = []
    for epoch in range(start_epoch, epochs):
        generator.module.train()
        started = time.perf_counter()
        totals = torch.zeros(len(terms), dtype=torch.float32, device=device)
        schedules: dict[str, float] = {}
        rows = 0
        for _ in range(steps_per_epoch):
            batch = generator.prepare_batch(next(batches), device)
            out = generator.train_step(batch, step)
            # Summed on the device: no host sync per step.
            totals += torch.stack([torch.as_tensor(out[t], device=device).float() for t in terms])
            schedules = {k: v for k, v in out.items() if isinstance(v, float)}
            rows += generator.batch_rows(batch)
            step += 1
        seconds = time.perf_counter() - started
        if distributed():
            dist.all_reduce(totals)
            totals /= dist.get_world_size()
            rows *= dist.get_world_size()
        record: dict[str, Any] = {"epoch": epoch}
        record |= dict(zip(terms, (totals / steps_per_epoch).tolist(), strict=True))
        record |= schedules
        record["samples_per_s"] = rows / max(seconds, 1e-9)
        if rank == 0:
            if validate is not None:
                generator.module.eval()
                record["valid_score"] = float(validate(generator))
                record["best"] = best.offer(record["valid_score"], epoch, generator)
            _log(_format(record))
            if on_epoch is not None:
                on_epoch(record)
            if checkpoint_dir is not None:
                state = generator.training_state()
                state |= {"epoch": epoch, "step": step}
                state |= {"best_score": best.score, "best_epoch": best.epoch}
                _save_checked(state, checkpoint_dir / CHECKPOINT_FILE)
        history.append(record)
        stop = patience > 0 and _early_stop(
            validate is not None and epoch - best.epoch >= patience, device
        )
        if distributed():
            dist.barrier()
        if stop:
            _log(f"event=early_stop epoch={epoch} patience={patience}")
            break
    if rank == 0 and best.weights is not None:
        generator.module.load_state_dict(best.weights)
        _log(f"event=best epoch={best.epoch} valid_score={best.score:.4g}")
    return history


def fit_frame(
    model: TabularGAN, frame: pd.DataFrame, epochs: int, batch_size: int, seed: int = 0
) -> list[dict[str, Any]]:
    """Train a tabular ``model`` in this process on ``frame``; per-epoch records.

    ``ceil(rows / batch_size)`` steps per epoch at the model's own ``lr`` and ``weight_decay``;
    torch's random state is forked and seeded with ``seed``, so the same seed gives the same
    weights. The model is left in eval mode.
    """
    steps = max(1, math.ceil(len(frame) / batch_size))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        history = train_loop(
            model,
            model.batches(frame, batch_size, seed),
            epochs=epochs,
            steps_per_epoch=steps,
            learning_rate=float(model.params["lr"]),
            weight_decay=float(model.params["weight_decay"]),
        )
    model.module.eval()
    return history
