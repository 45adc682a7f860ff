"""Concurrency drill: jobs racing on one lakehouse, each its own OS process and local Spark.

One drill, in a fresh folder:

1. **Two aggregates race** (``samplegen aggregate`` twice at once, run ids ``load-a`` and
   ``load-b``). Allowed outcomes: both finish (they took turns) or one is refused with exit 75
   naming the other load; never both refused, never an index with a repeated id or index.
2. **Two runs race** (run ids ``run-a`` and ``run-b``, started together; each runs
   ``generate`` then ``evaluate`` in one process, model-free ``mask`` strategy so no training
   is needed). Both must finish, and every run's rows must be in ``synthetic_interactions``,
   ``augmented_train`` and ``eval_metrics`` exactly once: as many as its manifest says it
   wrote, and no key twice.

Usage::

    PYTHONPATH=$PWD python bench/concurrency_drill.py --repeat 3 [--root /tmp/drill]

prints one outcome line per drill (``tests/e2e/test_concurrency.py`` runs one drill).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
#: Small enough that a drill's four Spark processes finish in about a minute on 2 cores.
DRILL_OVERRIDES = [
    "spark.master=local[2]",
    "spark.driver_memory=1g",
    "spark.shuffle_partitions=2",
    "data.max_users=60",
    "aggregate.min_item_users=5",
    "aggregate.top_n_items=300",
    "aggregate.training_files=2",
    "generate.strategy=mask",
    "generate.synthetic_users=20",
    "generate.max_user_items=60",
    "evaluate.recommenders=[popularity]",
    "evaluate.dose_ratios=[]",
    "evaluate.bootstrap_samples=50",
    "evaluate.repeats=1",
    "spark.conf={spark.ui.enabled: 'false', spark.driver.extraJavaOptions: "
    "'-XX:TieredStopAtLevel=1 -XX:+UseSerialGC'}",
]
LOADS = ("load-a", "load-b")
RUNS = ("run-a", "run-b")
#: Exit code of a refused load (samplegen.cli.EXIT_BUSY).
EXIT_BUSY = 75
_INDICES = (("user_index", "user_id", "user_idx"), ("item_index", "item_id", "item_idx"))
#: Keys that identify one row of each per-run table (a key seen twice is a duplicate).
ROW_KEYS = {
    "synthetic_interactions": ["run_id", "user_idx"],
    "augmented_train": ["run_id", "user_idx", "is_synthetic"],
    "eval_metrics": ["run_id", "dataset", "recommender", "variant", "slice", "metric", "k"],
}


@dataclass
class Outcome:
    """What one drill saw: exit codes, seconds, and every broken expectation."""

    loads: dict[str, int] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line: ok or FAILED, exit codes and the problems."""
        verdict = "ok" if not self.problems else "FAILED"
        return f"{verdict} in {self.seconds:.0f}s loads={self.loads} runs={self.runs}" + "".join(
            f"\n  problem: {p}" for p in self.problems
        )


def write_conf(root: Path, extra: list[str] | None = None) -> Path:
    """A config file with every output under ``root``."""
    from samplegen.config import load_config

    overrides = DRILL_OVERRIDES + [
        f"lakehouse={root / 'lakehouse'}",
        f"models_root={root / 'models'}",
        f"reports_root={root / 'reports'}",
    ]
    cfg = load_config(REPO / "conf" / "local.yaml", overrides + (extra or []))
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "drill.yaml"
    conf.write_text(yaml.safe_dump(cfg.to_dict()))
    return conf


def _start(args: list[str], log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, *args], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO
        )


def load_command(conf: Path, run_id: str) -> list[str]:
    """``samplegen aggregate`` of ``run_id`` (arguments after the Python executable)."""
    return ["-m", "samplegen.cli", "aggregate", "--conf", str(conf), "--run-id", run_id]


def job_command(conf: Path, run_id: str) -> list[str]:
    """This script's ``job``: ``generate`` then ``evaluate`` of ``run_id`` in one process."""
    return [__file__, "job", "--conf", str(conf), "--run-id", run_id]


def start_all(commands: dict[str, list[str]], logs: Path) -> dict[str, subprocess.Popen]:
    """Start every command at once, each writing ``<logs>/<name>.log``."""
    return {name: _start(args, logs / f"{name}.log") for name, args in commands.items()}


def wait_all(procs: dict[str, subprocess.Popen], timeout: float) -> dict[str, int]:
    """Exit codes by name; a process still running after ``timeout`` s is killed (code -9)."""
    deadline = time.monotonic() + timeout
    codes = {}
    for name, proc in procs.items():
        try:
            codes[name] = proc.wait(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes[name] = proc.wait()
    return codes


def index_pairs(spark, lakehouse: Path) -> dict[str, set[tuple[str, int]]]:
    """``(id, index)`` of every row of user_index and item_index."""
    pairs = {}
    for table, key, idx in _INDICES:
        df = spark.read.format("delta").load(str(lakehouse / table))
        pairs[table] = {(r[0], r[1]) for r in df.select(key, idx).collect()}
    return pairs


def check_loads(
    spark,
    lakehouse: Path,
    outcomes: dict[str, tuple[int, str]],
    problems: list[str],
    before: dict[str, set[tuple[str, int]]] | None = None,
) -> None:
    """Loads finished or were refused naming the other; indices hold every id once.

    ``outcomes`` maps each load to its exit code and output; ``before`` (the indices before the
    race, same input and keep_indices) must then be what the indices still are.
    """
    refused = [name for name, (code, _) in outcomes.items() if code == EXIT_BUSY]
    failed = {name: code for name, (code, _) in outcomes.items() if code not in (0, EXIT_BUSY)}
    if failed:
        problems.append(f"a load failed: {failed}")
    if len(refused) == len(outcomes):
        problems.append("every load was refused")
    for name in refused:
        others = [n for n in outcomes if n != name]
        text = outcomes[name][1]
        if not any(f"run {o!r}" in text for o in others) or "holds the aggregate lock" not in text:
            problems.append(f"refused load {name} does not name {others}: {text[-400:]}")
    pairs = index_pairs(spark, lakehouse)
    for table in pairs:
        ids = {i for i, _ in pairs[table]}
        indices = {x for _, x in pairs[table]}
        n = len(pairs[table])
        if not (n == len(ids) == len(indices) and indices == set(range(n))):
            problems.append(f"{table}: {n} rows, {len(ids)} ids, {len(indices)} dense indices")
        if before is not None and pairs[table] != before[table]:
            lost, new = before[table] - pairs[table], pairs[table] - before[table]
            problems.append(f"{table}: {len(lost)} (id, index) pairs lost, {len(new)} new")


def check_runs(
    spark,
    lakehouse: Path,
    reports: Path,
    outcomes: dict[str, tuple[int, str]],
    problems: list[str],
) -> None:
    """Every run finished; each run's rows are in every per-run table exactly once."""
    from pyspark.sql import functions as F

    failed = {name: text[-600:] for name, (code, text) in outcomes.items() if code}
    if failed:
        problems.append(f"a run failed: {failed}")
        return
    for table, keys in ROW_KEYS.items():
        df = spark.read.format("delta").load(str(lakehouse / table))
        df = df.where(F.col("run_id").isin(list(outcomes)))
        repeated = df.groupBy(*keys).count().where(F.col("count") > 1).count()
        if repeated:
            problems.append(f"{table}: {repeated} keys written more than once")
        counts = dict(df.groupBy("run_id").count().collect())
        for run in outcomes:
            manifest = json.loads((reports / run / "manifest.json").read_text())
            stage = "evaluate" if table == "eval_metrics" else "generate"
            expected = manifest["stages"][stage]["rows"][table]
            if counts.get(run, 0) != expected or expected == 0:
                have = counts.get(run, 0)
                problems.append(f"{table}: run {run} has {have} rows, wrote {expected}")


def _logged(codes: dict[str, int], logs: Path) -> dict[str, tuple[int, str]]:
    return {name: (code, (logs / f"{name}.log").read_text()) for name, code in codes.items()}


def _session():
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    from samplegen.config import load_config
    from samplegen.spark import get_spark

    return get_spark(load_config(REPO / "conf" / "local.yaml", DRILL_OVERRIDES).spark)


def drill(root: Path) -> Outcome:
    """One drill in a fresh ``root``: two loads race, then two runs race; then the checks."""
    started = time.perf_counter()
    outcome = Outcome()
    conf = write_conf(root)
    lakehouse, reports = root / "lakehouse", root / "reports"
    loads = wait_all(start_all({n: load_command(conf, n) for n in LOADS}, root), 600)
    outcome.loads = loads
    spark = _session()
    check_loads(spark, lakehouse, _logged(loads, root), outcome.problems)
    if 0 in loads.values():
        runs = wait_all(start_all({n: job_command(conf, n) for n in RUNS}, root), 900)
        outcome.runs = runs
        check_runs(spark, lakehouse, reports, _logged(runs, root), outcome.problems)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _job(conf: str, run_id: str) -> int:
    """``generate`` then ``evaluate`` of ``run_id`` in this process's own Spark session."""
    from samplegen.config import load_config
    from samplegen.pipeline import run_stages
    from samplegen.runinfo import configure_logging
    from samplegen.spark import get_spark

    configure_logging()
    cfg = load_config(conf, [])
    spark = get_spark(cfg.spark)
    try:
        run_stages(spark, cfg, run_id, ["generate", "evaluate"])
    finally:
        spark.stop()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    job = sub.add_parser("job", help="one run's generate + evaluate (what the drill starts)")
    job.add_argument("--conf", required=True)
    job.add_argument("--run-id", required=True)
    parser.add_argument("--repeat", type=int, default=3, help="drills to run")
    parser.add_argument("--root", help="folder for the drills (default: a temporary one)")
    args = parser.parse_args()
    if args.command == "job":
        return _job(args.conf, args.run_id)
    base = Path(args.root or tempfile.mkdtemp(prefix="samplegen-drill-"))
    failed = 0
    for n in range(1, args.repeat + 1):
        outcome = drill(base / f"drill-{n}")
        failed += bool(outcome.problems)
        print(f"drill {n}/{args.repeat}: {outcome.line()}", flush=True)
    print(f"{args.repeat - failed}/{args.repeat} drills ok (logs under {base})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
