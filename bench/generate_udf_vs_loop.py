"""Generation throughput: the pandas-UDF path (``densify`` in ``mapInPandas``) vs a plain loop.

The same Mult-VAE (random weights: speed does not depend on training) draws ``--k`` items for
each of ``--users`` users with 5-40 items over ``--items`` items:

* loop: one Python process, one torch thread, calling :func:`densify_batch` over the users;
* udf: :func:`samplegen.generate.densify.densify` on ``local[1]`` and ``local[2]`` (one torch
  thread per Python worker), the rows written to Spark's ``noop`` sink. Each mode first runs
  once on 1,000 users so Python workers and the model are loaded, then is timed on all users.

Prints users/s of each, the UDF/loop ratio per core (target >= 0.8) and the 2-core/1-core
scaling. Usage::

    python bench/generate_udf_vs_loop.py --users 40000 --items 5000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
K, WEIGHT, SEED = 10, 0.5, 7


def users_frame(n_users: int, n_items: int) -> pd.DataFrame:
    """``user_idx``, sorted ``item_idx`` arrays and ``n_items`` for ``n_users`` random users."""
    rng = np.random.default_rng(0)
    sizes = rng.integers(5, 41, size=n_users)
    items = [np.sort(rng.choice(n_items, size, replace=False)).astype(np.int32) for size in sizes]
    return pd.DataFrame(
        {"user_idx": np.arange(n_users, dtype=np.int32), "item_idx": items, "n_items": sizes}
    )


def save_model(folder: Path, n_items: int) -> None:
    import torch

    from samplegen.models import make_generator

    torch.manual_seed(0)
    make_generator("multvae", {"n_items": n_items, "hidden_dims": [600, 200]}).save(folder)


def loop_child(model: str, users: str) -> dict:
    from samplegen.generate.densify import densify_batch
    from samplegen.models.store import load_generator

    frame = pd.read_parquet(users)
    generator = load_generator(model)  # sets one torch thread, as in a Spark worker
    densify_batch(frame.iloc[:1000], generator, K, WEIGHT, SEED)  # warm-up, as the UDF gets
    start = time.perf_counter()
    rows = densify_batch(frame, generator, K, WEIGHT, SEED)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "users": len(frame), "rows": len(rows)}


def udf_child(model: str, users: str, cores: int) -> dict:
    from samplegen.config import SparkConfig
    from samplegen.generate.densify import densify
    from samplegen.spark import get_spark

    spark = get_spark(SparkConfig(master=f"local[{cores}]", shuffle_partitions=cores * 4))
    frame = spark.read.parquet(users).repartition(cores * 4).cache()
    frame.count()

    def run(df) -> float:
        start = time.perf_counter()
        densify(df, model, 10**9, K, WEIGHT, SEED).write.format("noop").mode("overwrite").save()
        return time.perf_counter() - start

    run(frame.limit(1000))
    seconds = run(frame)
    users = frame.count()
    spark.stop()
    return {"seconds": seconds, "users": users}


def child(args: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=40_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, model, users, *rest = args.child
        if name == "loop":
            result = loop_child(model, users)
        else:
            result = udf_child(model, users, int(rest[0]))
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as tmp:
        model, users = Path(tmp) / "model", Path(tmp) / "users.parquet"
        save_model(model, args.items)
        users_frame(args.users, args.items).to_parquet(users)
        loop = child(["loop", str(model), str(users)])
        one = child(["udf", str(model), str(users), "1"])
        two = child(["udf", str(model), str(users), "2"])
    runs = {"loop": loop, "udf1": one, "udf2": two}
    rates = {name: r["users"] / r["seconds"] for name, r in runs.items()}
    print(f"users {args.users:,}, items {args.items:,}, k {K}, Mult-VAE [600, 200], 1 torch thread")
    print(f"plain loop, 1 core : {loop['seconds']:7.1f} s  {rates['loop']:9,.0f} users/s")
    print(f"mapInPandas, 1 core: {one['seconds']:7.1f} s  {rates['udf1']:9,.0f} users/s")
    print(f"mapInPandas, 2 cores: {two['seconds']:6.1f} s  {rates['udf2']:9,.0f} users/s")
    print(f"UDF / loop per core: {rates['udf1'] / rates['loop']:.2f} (target >= 0.8)")
    print(f"scaling 2 / 1 cores: {rates['udf2'] / rates['udf1']:.2f}")
    result = {"args": vars(args), "loop": loop, "udf_1": one, "udf_2": two, "rates": rates}
    (HERE / "results" / "generate_udf_vs_loop.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
