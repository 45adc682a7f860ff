"""``train_fn``: what every training process runs, under TorchDistributor or plain torchrun.

It reads everything from a :class:`~samplegen.train.spec.TrainSpec` (plain values, no Spark
objects), so it pickles to executors and runs on a GPU box with no Spark at all::

    torchrun --nproc_per_node=8 -m samplegen.train.distributed --spec spec.json

Rank 0 returns the folder of the saved model (not the model itself).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from samplegen.models.store import HISTORY_FILE, checkpoints_dir, read_history
from samplegen.train.spec import TrainSpec

if TYPE_CHECKING:
    from samplegen.models.base import Generator
    from samplegen.train.loaders import Shard
    from samplegen.train.loop import Validate


def _process_group(use_gpu: bool) -> tuple[int, int, Any]:
    """Join the process group torchrun describes; return (rank, world size, device)."""
    import torch
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if use_gpu:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        master = os.environ.get("MASTER_ADDR", "")
        if not use_gpu and (master.startswith("127.") or master == "localhost"):
            # One-host CPU runs: keep gloo on loopback even when the hostname resolves elsewhere.
            os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        dist.init_process_group("nccl" if use_gpu else "gloo")
    return rank, world_size, device


def train_fn(spec: TrainSpec) -> str | None:
    """Train the spec's generator on this rank's shard; rank 0 returns the model folder.

    With ``spec.validation`` rank 0 keeps the epoch with the best NDCG@k.
    """
    import torch
    import torch.distributed as dist

    from samplegen.models import make_generator
    from samplegen.train.loaders import Shard
    from samplegen.train.loop import train_loop

    rank, world_size, device = _process_group(spec.use_gpu)
    torch.manual_seed(spec.seed)
    torch.backends.cuda.matmul.allow_tf32 = spec.allow_tf32
    generator = make_generator(spec.model, spec.params)
    output_dir = Path(spec.output_dir)
    if rank == 0:
        read_history(output_dir)  # a resume appends to it: a damaged one stops us now
    validate = _validation(spec) if rank == 0 else None
    try:
        with _training_batches(spec, generator, Shard(rank, world_size)) as batches:
            history = train_loop(
                generator,
                batches,
                epochs=spec.epochs,
                steps_per_epoch=spec.steps_per_epoch,
                learning_rate=spec.learning_rate,
                weight_decay=spec.weight_decay,
                device=device,
                checkpoint_dir=checkpoints_dir(output_dir),
                validate=validate,
                patience=spec.validation.patience if spec.validation else 0,
            )
        if rank != 0:
            return None
        generator.module.to("cpu")
        generator.save(output_dir)
        _append_history(output_dir / HISTORY_FILE, history)
        return str(output_dir)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


@contextmanager
def _training_batches(spec: TrainSpec, generator: Generator, shard: Shard) -> Iterator[Any]:
    """The rank's endless batch stream: table rows for a tabular model, else item rows."""
    from samplegen.train.loaders import batch_stream, prefetch, read_rows

    if spec.tabular:
        if spec.columns is None:
            raise ValueError(f"a {spec.model} spec needs the table columns to read")
        rows = read_rows(spec.files, spec.loader, spec.columns, shard, spec.where)
        yield generator.batches(rows, spec.batch_size, spec.seed + shard.rank)  # type: ignore[attr-defined]
        return
    with batch_stream(spec.files, spec.loader, spec.batch_size, shard, spec.seed) as items:
        yield prefetch(items)


def _validation(spec: TrainSpec) -> Validate | None:
    """``validate(generator) -> NDCG@k`` over the spec's validation users, or None."""
    from samplegen.train.validation import load_validation, validation_ndcg

    options = spec.validation
    if options is None:
        return None
    validation = load_validation(
        options.view_files, options.valid_files, options.max_users, spec.seed
    )
    if validation is None:
        print("samplegen train event=no_validation_users", flush=True)
        return None
    k = options.k
    return lambda generator: validation_ndcg(generator, validation, k)


def _append_history(path: Any, records: list[dict[str, float]]) -> None:
    """Keep one record per epoch across resumed runs (a resumed run logs only new epochs)."""
    previous = read_history(path.parent)
    first_new = min((r["epoch"] for r in records), default=None)
    kept = [r for r in previous if first_new is None or r["epoch"] < first_new]
    path.write_text(json.dumps(kept + records, indent=2))


def main() -> None:
    """``python -m samplegen.train.distributed --spec spec.json`` under torchrun."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--spec", required=True, help="JSON file with the train_fn spec")
    args = parser.parse_args()
    result = train_fn(TrainSpec.from_json(Path(args.spec).read_text()))
    if result:
        print(f"samplegen train model_dir={result}", flush=True)


if __name__ == "__main__":
    main()
