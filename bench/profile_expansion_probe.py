"""EASE fitted on real or augmented rows, scoring real or densified users, on the valid split.

The probe behind issue 21's "profile expansion" question: for one generated run, EASE is
fitted on the real rows and on real + synthetic rows, and each model scores the evaluated
users' real rows and their augmented rows with the added items at a share of their stored
weight (0.1, 0.3, 1.0). Prints NDCG@20 on ``all`` and ``cold`` with the paired bootstrap
difference against real-fit / real-scored. Valid split only. Usage (from the repo root)::

    python bench/profile_expansion_probe.py RUN_ID [--set key=value ...]
"""

from __future__ import annotations

import argparse

import numpy as np

from samplegen.config import load_config
from samplegen.evaluate import load_eval_data
from samplegen.evaluate.metrics import paired_bootstrap, top_k_items
from samplegen.evaluate.recommenders import make_recommender
from samplegen.evaluate.utility import _per_user, slices
from samplegen.spark import get_spark

SHARES = (0.1, 0.3, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_id")
    parser.add_argument("--conf", default="conf/local.yaml")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    cfg = load_config(args.conf, args.set)
    spark = get_spark(cfg.spark)
    data = load_eval_data(spark, cfg, args.run_id, split="valid")
    where = slices(data, cfg.evaluate)
    rows = np.flatnonzero(data.evaluated)
    exclude = [data.train_items[i] for i in rows]
    targets = [data.targets[i] for i in rows]
    k = cfg.evaluate.k
    print(f"synthetic users {data.synthetic['user_idx'].nunique()}, evaluated {len(rows)}")
    fits = {
        fit: make_recommender("ease", cfg.evaluate, spark, 0).fit(data.training_matrix(fit))
        for fit in ("real", "augmented")
    }
    values = {}
    for fit, model in fits.items():
        inputs = {"real": data.real}
        for share in SHARES:
            inputs[f"augmented x{share:g}"] = data.real + share * (data.augmented - data.real)
        for scored, matrix in inputs.items():
            top = top_k_items(model.score(matrix[rows])[:, : data.n_items], k, exclude)
            values[(fit, scored)] = {
                name: _per_user(top, targets, k, where[name])["ndcg"] for name in ("all", "cold")
            }
    base = values[("real", "real")]
    for (fit, scored), per in values.items():
        parts = []
        for name in ("all", "cold"):
            diff, low, high, _ = paired_bootstrap(base[name], per[name], 500, 0)
            parts.append(
                f"{name} {np.nanmean(per[name]):.4f} {diff:+.4f} [{low:+.4f}, {high:+.4f}]"
            )
        print(f"fit {fit:9s} score {scored:15s} " + " | ".join(parts), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
