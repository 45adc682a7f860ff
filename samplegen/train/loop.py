"""The one training loop every runtime runs: plain ``fit``, TorchDistributor and torchrun.

Each rank runs exactly ``steps_per_epoch`` steps per epoch (its batch stream is endless), so
no rank waits at a collective that others never reach. Rank 0 writes a checkpoint after every
epoch; a rerun with the same checkpoint folder resumes after the last finished epoch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

from samplegen.train.loaders import SparseRows

if TYPE_CHECKING:
    from samplegen.models.base import Generator

CHECKPOINT_FILE = "checkpoint.pt"


def _log(message: str) -> None:
    print(f"samplegen train rank={os.environ.get('RANK', '0')} {message}", flush=True)


def _load_checkpoint(
    folder: Path | None, generator: Generator, optimizer: torch.optim.Optimizer
) -> tuple[int, int]:
    """Restore weights and optimizer; return (next epoch, global step)."""
    if folder is None or not (folder / CHECKPOINT_FILE).exists():
        return 0, 0
    state = torch.load(folder / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    try:
        generator.module.load_state_dict(state["model"])
    except RuntimeError as err:
        raise ValueError(
            f"the checkpoint in {folder} does not fit this model (different items or layers); "
            "train under a new run id or delete that folder"
        ) from err
    optimizer.load_state_dict(state["optimizer"])
    _log(f"event=resume epoch={state['epoch']} step={state['step']} from={folder}")
    return int(state["epoch"]) + 1, int(state["step"])


def _save_checkpoint(
    folder: Path, generator: Generator, optimizer: torch.optim.Optimizer, epoch: int, step: int
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        "model": {k: v.detach().cpu() for k, v in generator.module.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "step": step,
    }
    partial = folder / (CHECKPOINT_FILE + ".partial")
    torch.save(state, partial)
    partial.replace(folder / CHECKPOINT_FILE)


def train_loop(
    generator: Generator,
    batches: Iterator[SparseRows] | Iterator[torch.Tensor],
    epochs: int,
    steps_per_epoch: int,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.0,
    device: torch.device | None = None,
    checkpoint_dir: Path | None = None,
) -> list[dict[str, float]]:
    """Train ``generator`` in place; return one record per epoch run here.

    Under an initialised process group the module is wrapped in DDP and the epoch's loss is
    averaged over ranks; only rank 0 writes checkpoints.
    """
    device = device or torch.device("cpu")
    generator.module.to(device)
    distributed = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if distributed else 0
    optimizer = torch.optim.Adam(
        generator.module.parameters(), lr=learning_rate, weight_decay=weight_decay
    )
    start_epoch, step = _load_checkpoint(checkpoint_dir, generator, optimizer)
    module: torch.nn.Module = generator.module
    if distributed:
        device_ids = [device.index] if device.type == "cuda" else None
        module = torch.nn.parallel.DistributedDataParallel(generator.module, device_ids=device_ids)
    history = []
    for epoch in range(start_epoch, epochs):
        module.train()
        started = time.perf_counter()
        totals = torch.zeros(3, dtype=torch.float32, device=device)
        rows = 0
        for _ in range(steps_per_epoch):
            batch = next(batches)
            if isinstance(batch, SparseRows):
                x = batch.to_dense(generator.n_items, device)
            else:
                x = batch.to(device, non_blocking=True)
            loss, terms = generator.training_loss(module, x, step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            # Summed on the device: no host sync per step.
            totals += torch.stack([loss.detach(), terms["nll"], terms["kl"]])
            rows += x.shape[0]
            step += 1
        seconds = time.perf_counter() - started
        if distributed:
            dist.all_reduce(totals)
            totals /= dist.get_world_size()
            rows *= dist.get_world_size()
        means = (totals / steps_per_epoch).tolist()
        record = {
            "epoch": epoch,
            "loss": means[0],
            "nll": means[1],
            "kl": means[2],
            "beta": float(terms["beta"]),
            "samples_per_s": rows / max(seconds, 1e-9),
        }
        history.append(record)
        if rank == 0:
            _log(
                " ".join(
                    f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in record.items()
                )
            )
            if checkpoint_dir is not None:
                _save_checkpoint(checkpoint_dir, generator, optimizer, epoch, step)
        if distributed:
            dist.barrier()
    return history
