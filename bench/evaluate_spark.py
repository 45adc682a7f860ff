"""Stage 4's utility rows scored on the driver vs in Spark, on one evaluated run.

Each engine runs in its own process on the same lakehouse and run (every user unless the
overrides set ``evaluate.max_users``): ``driver`` collects the dense matrices
(:func:`samplegen.evaluate.load_eval_data`), fits popularity, EASE and ALS and ranks every
evaluated user on the driver (slices ``all`` and ``cold``); ``spark`` does the same through
:func:`samplegen.evaluate.spark_scoring.spark_utility_rows` (sparse fits, ranking in
``mapInPandas``, ``eval_user_metrics`` written). It prints each engine's seconds, the peak
resident memory of its process tree (PSS, see ``common.measured``) and the largest
difference between the two engines' rows. Usage::

    python bench/evaluate_spark.py --run-id RUN --set lakehouse=/path/lakehouse [--set k=v ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from common import measured

HERE = Path(__file__).resolve().parent
ENGINES = ("driver", "spark")
RECOMMENDERS = ["popularity", "ease", "als"]


def engine_child(engine: str, run_id: str, sets: list[str]) -> dict:
    """Score the run's utility rows with ``engine``; return seconds and the rows' values."""
    from samplegen.config import load_config
    from samplegen.evaluate import load_eval_data
    from samplegen.evaluate.spark_scoring import SPARK_SLICES, spark_utility_rows
    from samplegen.evaluate.utility import Scorer, slices, utility_rows
    from samplegen.runinfo import configure_logging
    from samplegen.spark import get_spark

    configure_logging()
    cfg = load_config(None, sets)
    settings = dataclasses.replace(cfg.evaluate, recommenders=RECOMMENDERS, scoring=engine)
    cfg = dataclasses.replace(cfg, evaluate=settings)
    spark = get_spark(cfg.spark)
    started = time.perf_counter()
    if engine == "driver":
        data = load_eval_data(spark, cfg, run_id)
        where = {n: s for n, s in slices(data, cfg.evaluate).items() if n in SPARK_SLICES}
        rows = utility_rows(data, cfg, spark, where, Scorer(data, cfg, spark))
        users = int(data.evaluated.sum())
    else:
        result = spark_utility_rows(spark, cfg, run_id)
        rows, users = result.rows, result.n_evaluated
    seconds = time.perf_counter() - started
    spark.stop()
    values = {
        f"{r.recommender}/{r.variant}/{r.slice}/{r.metric}@{r.k}/{r.seed}": r.value for r in rows
    }
    return {"seconds": seconds, "evaluated_users": users, "values": values}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-id", help="an evaluated run of the lakehouse (required)")
    parser.add_argument("--set", action="append", default=[], help="config override key=value")
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine, run_id, sets = args.child
        print(json.dumps(engine_child(engine, run_id, json.loads(sets))))
        return
    results = {}
    for engine in args.engines:
        got = measured(__file__, [engine, args.run_id, json.dumps(args.set)])
        results[engine] = got
        line = f"{engine:<6} {got['seconds']:8.1f} s (process {got['process_s']:7.1f} s)"
        print(f"{line}  peak {got['peak_gib']:5.2f} GiB  users {got['evaluated_users']:,}")
    if len(results) == 2:
        driver, spark = results["driver"]["values"], results["spark"]["values"]
        shared = set(driver) & set(spark)
        worst = max((abs(driver[k] - spark[k]), k) for k in shared if driver[k] == driver[k])
        print(f"rows: {len(shared)} shared of {len(driver)} / {len(spark)}; largest difference "
              f"{worst[0]:.3g} ({worst[1]})")  # fmt: skip


if __name__ == "__main__":
    main()
