"""Items new to the catalogue on completejourney: generated interactions vs content baselines.

Runs the whole pipeline with the default configuration (``conf/local.yaml``: completejourney,
the temporal split its ``auto`` split chooses) and ``generate.strategy=new_items``, in its own
lakehouse under ``bench/work/item_cold``, then prints the item-cold figures of
``eval_metrics``: ``items_new`` NDCG@20 of the best augmented recommender (EASE, ALS, Mult-VAE
trained on real + the run's synthetic rows) against the best non-generative baseline
(content_knn, category_popularity, random_new), both chosen on the valid period's new-item
interactions (slice ``items_new_valid``), their paired test difference with its 95% CI, the
slice's users and interactions, and the warm ``all`` slice's augmented - real difference of
the same recommender (the "not worse overall" half of the target).

    PYTHONPATH=$PWD python bench/item_cold.py --new-items 2000  # bench/results/item_cold.json

``--new-items 40000 --recommenders als,multvae`` gives every catalogue item new to the
catalogue a column (EASE's item-item solve would not fit); ``--candidates period`` ranks only
the new items sold in the scored period (``evaluate.item_cold_candidates``).

The target (issue 20) is a ratio of at least 1.2 with the CI of the difference above zero.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import pandas as pd
from pyspark.sql import functions as F

from samplegen.config import load_config
from samplegen.evaluate.item_cold_choice import BEST_BASELINE_DIFF, CHOSEN_VARIANT
from samplegen.evaluate.rows import DIFF_VARIANT, ITEMS_NEW, ITEMS_NEW_VALID
from samplegen.pipeline import run_pipeline
from samplegen.runinfo import configure_logging
from samplegen.spark import get_spark
from samplegen.tables import EVAL_METRICS, read_table

REPO = Path(__file__).resolve().parents[1]
BASELINES = ("content_knn", "category_popularity", "random_new")


def _row(rows: pd.DataFrame, **where: object) -> pd.Series:
    """The single row matching every ``column=value`` of ``where``."""
    mask = pd.Series(True, index=rows.index)
    for column, value in where.items():
        mask &= rows[column] == value
    found = rows[mask]
    if len(found) != 1:
        raise ValueError(f"expected one row for {where}, found {len(found)}")
    return found.iloc[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-items", type=int, default=2000, help="generate.new_items")
    parser.add_argument("--repeats", type=int, default=1, help="evaluate.repeats")
    parser.add_argument(
        "--candidates",
        default="run",
        choices=["run", "period"],
        help="evaluate.item_cold_candidates",
    )
    parser.add_argument(
        "--recommenders",
        default="ease,als,multvae",
        help="evaluate.recommenders, comma-separated (EASE's item-item solve needs "
        "(vocabulary + new items)^2 doubles: leave it out for tens of thousands of new items)",
    )
    parser.add_argument(
        "--set", action="append", default=[], help="a further config override, key=value"
    )
    parser.add_argument("--work", default=str(REPO / "bench" / "work" / "item_cold"))
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "item_cold.json"))
    args = parser.parse_args()
    work = Path(args.work)
    overrides = [
        f"lakehouse={work / 'lakehouse'}",
        f"models_root={work / 'models'}",
        f"reports_root={work / 'reports'}",
        "spark.driver_memory=6g",
        "spark.conf.spark.ui.enabled='false'",
        "generate.strategy=new_items",
        f"generate.new_items={args.new_items}",
        f"evaluate.recommenders=[{args.recommenders}]",
        f"evaluate.item_cold_candidates={args.candidates}",
        f"evaluate.repeats={args.repeats}",
        "evaluate.dose_ratios=[]",
        *args.set,
    ]
    cfg = load_config(REPO / "conf" / "local.yaml", overrides)
    configure_logging()
    spark = get_spark(cfg.spark)
    run_id = "item-cold-bench"
    started = time.perf_counter()
    results = {r.stage: r for r in run_pipeline(spark, cfg, run_id)}
    seconds = time.perf_counter() - started
    rows = (
        read_table(spark, cfg.lakehouse, EVAL_METRICS).where(F.col("run_id") == run_id).toPandas()
    )
    k = cfg.evaluate.k
    ndcg = rows[(rows["metric"] == "ndcg") & (rows["k"] == k)]
    on_valid = ndcg[ndcg["slice"] == ITEMS_NEW_VALID]
    chosen = on_valid[on_valid["variant"] == CHOSEN_VARIANT]
    test = ndcg[ndcg["slice"] == ITEMS_NEW]
    out: dict[str, object] = {
        "machine": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
        "seconds": round(seconds, 1),
        "new_items": args.new_items,
        "recommenders": args.recommenders.split(","),
        "candidates": args.candidates,
        "overrides": args.set,
        "repeats": args.repeats,
        "slice": results["evaluate"].metrics.get("item_cold", {}),
        f"valid_ndcg@{k}": {
            f"{r.recommender}/{r.variant}/seed={r.seed}": [r.value, r.ci_low, r.ci_high]
            for r in on_valid[on_valid["variant"].isin(["real", "augmented"])].itertuples()
        },
        "chosen_on_valid": {r.recommender: r.value for r in chosen.itertuples()},
        "verdict": results["evaluate"].metrics["verdict"],
        f"test_ndcg@{k}": {
            f"{r.recommender}/{r.variant}/seed={r.seed}": [r.value, r.ci_low, r.ci_high]
            for r in test[test["variant"].isin(["real", "augmented"])].itertuples()
        },
    }
    if len(chosen) == 2:  # else too few valid users: nothing was chosen, the verdict says so
        best = _row(ndcg, slice=ITEMS_NEW, variant=BEST_BASELINE_DIFF)
        generated = _row(
            test, variant="augmented", recommender=best["recommender"], seed=best["seed"]
        )
        name = chosen[chosen["recommender"].isin(BASELINES)]["recommender"].iloc[0]
        baseline = _row(test, variant="real", recommender=name)
        warm = ndcg[
            (ndcg["slice"] == "all")
            & (ndcg["variant"] == DIFF_VARIANT)
            & (ndcg["recommender"] == best["recommender"])
        ]
        out |= {
            "items_new_users": int(generated["n_users"]),
            f"generated_ndcg@{k}": {
                "recommender": best["recommender"],
                "seed": int(best["seed"]),
                "value": float(generated["value"]),
                "ci": [float(generated["ci_low"]), float(generated["ci_high"])],
            },
            f"best_baseline_ndcg@{k}": {
                "recommender": name,
                "value": float(baseline["value"]),
                "ci": [float(baseline["ci_low"]), float(baseline["ci_high"])],
            },
            "ratio": float(generated["value"]) / float(baseline["value"])
            if baseline["value"] > 0
            else None,
            "difference": {
                "value": float(best["value"]),
                "ci": [float(best["ci_low"]), float(best["ci_high"])],
            },
            f"all_augmented_minus_real_ndcg@{k}": [
                {"seed": int(r.seed), "value": r.value, "ci": [r.ci_low, r.ci_high]}
                for r in warm.itertuples()
            ],
        }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(json.dumps(out, indent=2, default=str))
    spark.stop()


if __name__ == "__main__":
    main()
