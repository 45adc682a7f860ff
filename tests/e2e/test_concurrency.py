"""Jobs racing on one lakehouse lose and duplicate nothing (bench/concurrency_drill.py, once).

The drill runs on a copy of the session's ``pipeline_run`` lakehouse (its trained model copied
to each run id), so it pays for no aggregate or training of its own:

1. Two loads race: ``samplegen aggregate`` in a subprocess and, as soon as that process has
   started its stage, ``run_aggregate`` in this process. They take turns or one is refused
   (exit 75 / ``LakehouseBusyError``) naming the other; the indices are then exactly the ones
   before (same input, keep_indices): no id lost, repeated or renumbered.
2. Two runs race: two processes each run ``generate`` (densify) then ``evaluate`` of their own
   run id at once. Both finish, and each run's rows are in ``synthetic_interactions``,
   ``augmented_train`` and ``eval_metrics`` exactly as many times as its manifest says.

``PYTHONPATH=$PWD python bench/concurrency_drill.py --repeat 3`` runs the whole drill (fresh
lakehouse, both loads as processes) several times.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import pytest
import yaml

from bench.concurrency_drill import (
    EXIT_BUSY,
    check_loads,
    check_runs,
    index_pairs,
    job_command,
    load_command,
    start_all,
    wait_all,
)
from samplegen.features import run_aggregate
from samplegen.locks import LakehouseBusyError
from samplegen.models.store import model_dir
from tests.conftest import RUN_ID, SUBPROCESS_JVM

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.drill]

RUNS = ("race-a", "race-b")


def drill_config(cfg, root: Path):
    """The session's config on a copy of its lakehouse, with a quick evaluate."""
    shutil.copytree(cfg.lakehouse, root / "lakehouse")
    evaluate = dataclasses.replace(
        cfg.evaluate, recommenders=["popularity"], dose_ratios=[], repeats=1
    )
    settings = {**cfg.spark.conf, **SUBPROCESS_JVM}
    spark = dataclasses.replace(cfg.spark, master="local[2]", conf=settings)
    aggregate = dataclasses.replace(cfg.aggregate, samples_ctr=False)
    drill = dataclasses.replace(
        cfg,
        aggregate=aggregate,
        lakehouse=str(root / "lakehouse"),
        models_root=str(root / "models"),
        reports_root=str(root / "reports"),
        evaluate=evaluate,
        spark=spark,
    )
    for run_id in RUNS:
        shutil.copytree(model_dir(cfg, RUN_ID), model_dir(drill, run_id))
    return drill


def race_loads(spark, drill, conf: Path, root: Path) -> dict[str, tuple[int, str]]:
    """A load in a subprocess and, once its stage has started, one in this process."""
    procs = start_all({"load-b": load_command(conf, "load-b")}, root)
    log = root / "load-b.log"
    deadline = time.monotonic() + 300
    while "stage=aggregate run_id=load-b event=start" not in log.read_text():
        if procs["load-b"].poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    try:
        run_aggregate(spark, drill, "load-a")
        here = (0, "")
    except LakehouseBusyError as err:
        here = (EXIT_BUSY, str(err))
    code = wait_all(procs, 600)["load-b"]
    return {"load-a": here, "load-b": (code, log.read_text())}


def test_racing_loads_and_runs_lose_and_duplicate_nothing(spark, cfg, pipeline_run, tmp_path):
    drill = drill_config(cfg, tmp_path)
    conf = tmp_path / "drill.yaml"
    conf.write_text(yaml.safe_dump(drill.to_dict()))
    lakehouse = Path(drill.lakehouse)
    before = index_pairs(spark, lakehouse)
    problems: list[str] = []

    loads = race_loads(spark, drill, conf, tmp_path)
    check_loads(spark, lakehouse, loads, problems, before=before)

    codes = wait_all(start_all({r: job_command(conf, r) for r in RUNS}, tmp_path), 600)
    runs = {r: (code, (tmp_path / f"{r}.log").read_text()) for r, code in codes.items()}
    check_runs(spark, lakehouse, Path(drill.reports_root), runs, problems)
    assert not problems, problems
    print("loads:", {name: code for name, (code, _) in loads.items()}, "runs:", codes)
