"""Stage 4's driver-path utility rows with the Spark fits started ahead vs one at a time.

Each arm runs in its own process on the same lakehouse and evaluated run, with the run's own
``evaluate`` settings (``make run``: popularity, EASE, ALS and Mult-VAE, 3 seeds of the
stochastic ones): ``ahead`` is the code as it is (ALS fitted on background threads while the
driver fits EASE and Mult-VAE, :meth:`samplegen.evaluate.utility.Scorer.fitting_ahead`),
``one_at_a_time`` replaces that context with a no-op, so every model is fitted on the main
thread in turn as before 2026-12-07. It prints each arm's seconds of ``utility_rows`` (data
loading excluded), the peak PSS of its process tree and whether the two arms' rows are equal.
Usage::

    python bench/fit_ahead.py --conf /tmp/mr/conf.yaml --run-id mr9
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time

from common import measured

ARMS = ("one_at_a_time", "ahead")


def arm_child(arm: str, conf: str, run_id: str) -> dict:
    """Time ``utility_rows`` of ``run_id`` with ``arm``; return seconds and the rows."""
    from samplegen.config import load_config
    from samplegen.evaluate import load_eval_data
    from samplegen.evaluate.utility import Scorer, slices, utility_rows
    from samplegen.runinfo import configure_logging
    from samplegen.spark import get_spark

    configure_logging()
    cfg = load_config(conf, [])
    spark = get_spark(cfg.spark)
    data = load_eval_data(spark, cfg, run_id)
    if arm == "one_at_a_time":
        Scorer.fitting_ahead = lambda self, jobs: contextlib.nullcontext()
    started = time.perf_counter()
    rows = utility_rows(data, cfg, spark, slices(data, cfg.evaluate))
    seconds = time.perf_counter() - started
    spark.stop()
    return {"seconds": seconds, "rows": [repr(row) for row in rows]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conf", help="the run's YAML config (required)")
    parser.add_argument("--run-id", help="an evaluated run of its lakehouse (required)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(arm_child(*args.child)))
        return
    results = {arm: measured(__file__, [arm, args.conf, args.run_id]) for arm in ARMS}
    for arm, got in results.items():
        print(f"{arm:<14} utility_rows {got['seconds']:7.1f} s  peak {got['peak_gib']:5.2f} GiB")
    same = results["ahead"]["rows"] == results["one_at_a_time"]["rows"]
    print(f"rows: {len(results['ahead']['rows'])}, equal in both arms: {same}")


if __name__ == "__main__":
    main()
