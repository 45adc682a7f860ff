"""Mult-VAE training throughput on a GPU: through the real loader vs from in-memory tensors.

Runs with no Spark, under torchrun, on the files ``bench/prepare_gpu_data.py`` writes::

    torchrun --nproc_per_node=1 bench/gpu_multvae.py --data .gpu/data --batch-size 1024

Both paths train the same model with the same optimiser and batch size; the in-memory path
indexes a dense user x item matrix already on the GPU, the loader path reads the Parquet files
with samplegen's Arrow loader (row-group shards, packed int32 items, densified on the device).
Prints users/s for each and the ratio.
"""

import argparse
import json
import os
import time
from pathlib import Path

import torch

from samplegen.locations import open_parquet
from samplegen.models import make_generator
from samplegen.models.base import SparseRows
from samplegen.train.loaders import (
    Shard,
    batch_stream,
    dense_rows,
    prefetch,
)


def timed_steps(generator, optimizer, batches, steps: int, warmup: int, device) -> float:
    """Users per second over ``steps`` optimiser steps after ``warmup`` steps."""
    module = generator.module
    module.train()
    started = 0.0
    rows = 0
    for step in range(warmup + steps):
        if step == warmup:
            synchronize(device)
            started = time.perf_counter()
            rows = 0
        x = next(batches)
        x = x.to_dense(generator.n_items, device) if isinstance(x, SparseRows) else x
        loss, _ = generator.training_loss(module, x, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        rows += x.shape[0]
    synchronize(device)
    return rows / (time.perf_counter() - started)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def in_memory_batches(files, n_items, batch_size, device, seed):
    """Endless random batches from a dense matrix of every user, held on the GPU."""
    packed = []
    for path in files:
        packed += open_parquet(path).read(columns=["item_bytes"]).column(0).to_pylist()
    matrix = dense_rows(packed, n_items).to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    while True:
        rows = torch.randint(0, matrix.shape[0], (batch_size,), device=device, generator=generator)
        yield matrix[rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    parser.add_argument("--device", default="cuda", help="cuda, or cpu for a smoke test")
    args = parser.parse_args()

    if args.device == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        name = torch.cuda.get_device_name(device)
    else:
        device, name = torch.device("cpu"), "cpu"
    data = Path(args.data)
    files = sorted(str(p) for p in data.glob("*.parquet"))
    n_items = int((data / "n_items").read_text())
    results = {
        "device": name,
        "n_items": n_items,
        "batch_size": args.batch_size,
        "steps": args.steps,
    }
    for path in ("in_memory", "arrow_loader"):
        torch.manual_seed(0)
        generator = make_generator("multvae", {"n_items": n_items, "hidden_dims": [600, 200]})
        generator.module.to(device)
        optimizer = torch.optim.Adam(generator.module.parameters(), lr=1e-3)
        if path == "in_memory":
            batches = in_memory_batches(files, n_items, args.batch_size, device, 0)
            results[path] = timed_steps(
                generator, optimizer, batches, args.steps, args.warmup, device
            )
        else:
            with batch_stream(files, "arrow", args.batch_size, Shard(), 0) as stream:
                batches = prefetch(stream, depth=4)
                results[path] = timed_steps(
                    generator, optimizer, batches, args.steps, args.warmup, device
                )
        print(f"{path}: {results[path]:,.0f} users/s", flush=True)
    results["ratio_loader_vs_memory"] = results["arrow_loader"] / results["in_memory"]
    print(json.dumps(results, indent=2), flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "gpu_multvae.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
