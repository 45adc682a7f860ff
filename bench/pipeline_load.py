"""The whole pipeline at load: aggregate, train, generate and evaluate on a simulated log.

``samplegen simulate`` writes the log once under ``--work`` (Parquet), plus one user ("whale")
with ``--whale`` views, so the run also meets a key with a million events. Each stage then
runs in its own process through its ``run_<stage>(spark, cfg, run_id)``, as a scheduled job
would run ``jobs/<stage>.py``, with the configuration of :func:`overrides`: the log read as
``data.source=files``, ``local[2]``, the one-machine ``spark.conf`` of the benchmarks, one
capped Mult-VAE epoch, 20,000 synthetic users and evaluation on a seeded sample of users.
Per stage it records the stage's own seconds, the process's wall time (JVM start included),
the peak resident memory of the process tree (sampled every 0.2 s) and the rows written.
Usage::

    python bench/pipeline_load.py --events 1e8     # writes results/pipeline_load_<n>.json
    python bench/pipeline_load.py --events 1e7 --stages aggregate \
        --set aggregate.raw_events=false --tag _raw_off   # results/pipeline_load_<n>_raw_off.json
    python bench/pipeline_load.py --events 1e8 --stages train generate evaluate \
        --set evaluate.scoring=spark --tag _spark_all     # every evaluated user ranked in Spark

``--stages`` without ``aggregate`` reuses the lakehouse ``<work>/lake_<n>`` of an earlier run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import SPARK_CONF, measured, simulate_child

HERE = Path(__file__).resolve().parent
STAGES = ("aggregate", "train", "generate", "evaluate")


def overrides(work: Path, data: Path, n: int) -> list[str]:
    """The run's ``--set`` overrides: files source, one machine, load-sized stage settings."""
    lake = work / f"lake_{n}"
    return [
        f"lakehouse={lake}",
        f"models_root={lake}/models",
        f"reports_root={work}/reports_{n}",
        "spark.master=local[2]",
        "spark.driver_memory=14g",
        f"spark.shuffle_partitions={max(8, n // 2_000_000)}",
        f"spark.conf={json.dumps(SPARK_CONF)}",
        "data.source=files",
        f"data.events_path={data}/events",
        f"data.catalogue_path={data}/catalogue",
        "train.model=multvae",
        "train.loader=arrow",
        "train.epochs=1",
        "train.batch_size=1024",
        "train.max_steps_per_epoch=200",
        "train.validation_users=2000",
        "generate.strategy=synthetic_users",
        "generate.synthetic_users=20000",
        "evaluate.max_users=20000",
        "evaluate.recommenders=[popularity, ease, als]",
        "evaluate.repeats=1",
        "evaluate.als_iterations=5",
        "evaluate.bootstrap_samples=200",
    ]


def stage_child(stage: str, run_id: str, sets: list[str]) -> dict:
    """Run one stage as a job would and return its seconds, rows and headline metrics."""
    from pyspark.sql import functions as F

    from samplegen.config import load_config
    from samplegen.pipeline import STAGES as RUNNERS
    from samplegen.runinfo import configure_logging
    from samplegen.spark import get_spark
    from samplegen.tables import USER_FEATURES, read_table, table_store

    configure_logging()
    cfg = load_config(None, sets)
    spark = get_spark(cfg.spark)
    result = RUNNERS[stage](spark, cfg, run_id)
    headline = {
        k: v for k, v in result.metrics.items() if isinstance(v, int | float | str) and k != "error"
    }
    if stage == "evaluate":  # the verdict lines, to compare runs of different code
        headline["verdict"] = result.metrics.get("verdict", [])
    if stage == "aggregate":  # the skewed user made it through, with every event counted
        whale = read_table(spark, table_store(cfg), USER_FEATURES).where(
            F.col("user_id") == "whale"
        )
        headline |= {
            f"whale_{k}": v for k, v in whale.select("n_events", "n_items").first().asDict().items()
        }
    spark.stop()
    return {"seconds": result.seconds, "rows": result.rows, "metrics": headline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=float, default=1e8, help="simulated events")
    parser.add_argument("--whale", type=int, default=1_000_000, help="views of the skewed user")
    parser.add_argument("--work", default=str(HERE / "work"), help="simulated data and lakehouse")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--set", action="append", default=[], help="extra config override")
    parser.add_argument("--tag", default="", help="suffix of the results file, e.g. _raw_off")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, *rest = args.child
        if name == "simulate":
            result = simulate_child(rest[0], int(rest[1]), int(rest[2]))
        else:
            result = stage_child(name, rest[0], json.loads(rest[1]))
        print(json.dumps(result))
        return

    n = int(args.events)
    work = Path(args.work)
    data = work / f"sim_{n}_whale_{args.whale}"
    if not (data / "_counts.json").exists():
        sim = measured(__file__, ["simulate", str(data), str(n), str(args.whale)])
        (data / "_counts.json").write_text(json.dumps(sim))
    sim = json.loads((data / "_counts.json").read_text())
    print(
        f"log: {sim['events']:,} events ({sim.get('whale_events', 0):,} of one user), "
        f"simulated in {sim['seconds']:.1f} s, peak {sim['peak_gib']:.1f} GiB",
        flush=True,
    )
    out = HERE / "results" / f"pipeline_load_{n}{args.tag}.json"
    report = json.loads(out.read_text()) if out.exists() else {}
    report |= {"events": sim["events"], "whale_events": sim.get("whale_events", 0)}
    report.setdefault("stages", {})
    report["simulate"] = {"seconds": sim["seconds"], "peak_gib": sim["peak_gib"]}
    sets = overrides(work, data, n) + args.set
    report["overrides"] = sets
    for stage in args.stages:
        got = measured(__file__, [stage, f"load-{n}", json.dumps(sets)])
        report["stages"][stage] = got
        out.write_text(json.dumps(report, indent=1))
        print(f"{stage:<9} {got['seconds']:8.1f} s (process {got['process_s']:7.1f} s)  "
              f"peak {got['peak_gib']:5.2f} GiB  rows {got['rows']}", flush=True)  # fmt: skip
    total = sum(s["seconds"] for s in report["stages"].values())
    peak = max(s["peak_gib"] for s in report["stages"].values())
    print(f"all stages {total:.1f} s, highest peak {peak:.2f} GiB (machine: 24 GiB); wrote {out}")


if __name__ == "__main__":
    main()
