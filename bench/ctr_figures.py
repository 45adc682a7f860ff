"""The CTR figures of one run from a lakehouse's ``eval_metrics`` (read only).

Per classifier and slice: test AUC of real-only and augmented, augmented - real with its
paired bootstrap CI, augmented - the best non-generative baseline, and the dose sweep; then
every fidelity and privacy row of the run. Used for bench/README.md's CTR sections.

    python bench/ctr_figures.py /tmp/mlctr_fill/lakehouse --run-id base --models logreg deepfm
"""

from __future__ import annotations

import argparse

import pandas as pd
from pyspark.sql import functions as F

from samplegen.config import load_config
from samplegen.spark import get_spark
from samplegen.tables import EVAL_METRICS, read_table

SLICES = ("all", "cold_users", "cold_items")


def _ci(row: pd.Series) -> str:
    """An ``eval_metrics`` row as ``value [ci_low, ci_high]``."""
    return f"{row['value']:+.4f} [{row['ci_low']:+.4f}, {row['ci_high']:+.4f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lakehouse")
    parser.add_argument("--run-id", default="base")
    parser.add_argument("--models", nargs="+", default=["logreg", "deepfm"])
    args = parser.parse_args()
    cfg = load_config(None, ["spark.master=local[1]", "spark.shuffle_partitions=2"])
    spark = get_spark(cfg.spark)
    metrics = read_table(spark, args.lakehouse, EVAL_METRICS)
    rows = metrics.where(F.col("run_id") == args.run_id).toPandas()
    auc = rows[rows["metric"] == "auc"]
    for model in args.models:
        for name in SLICES:
            s = auc[(auc["recommender"] == model) & (auc["slice"] == name)].set_index("variant")
            baselines = [
                v
                for v in s.index
                if v.startswith("augmented_minus_") and v != "augmented_minus_real"
            ]
            if not baselines:
                print(f"{model} {name}: no baseline variant in this run")
                continue
            best = min(baselines, key=lambda v: s.loc[v, "value"])
            doses = "; ".join(f"{v[5:]}: {_ci(s.loc[v])}" for v in s.index if v.startswith("dose="))
            print(
                f"{model} {name} (n={int(s.loc['real', 'n_users'])}): real "
                f"{s.loc['real', 'value']:.4f} augmented {s.loc['augmented', 'value']:.4f} "
                f"aug-real {_ci(s.loc['augmented_minus_real'])} aug-best "
                f"{_ci(s.loc[best])} ({best[len('augmented_minus_') :]}) | dose {doses}"
            )
    quality = rows[rows["recommender"].isin(["fidelity", "privacy"])]
    for r in quality.itertuples():
        print(f"{r.recommender} {r.metric} {r.value:.4f}")
    spark.stop()


if __name__ == "__main__":
    main()
