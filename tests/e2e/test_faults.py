"""Faults on real processes: a killed executor and a killed driver lose and duplicate nothing.

Both tests reuse the session's ``pipeline_run`` lakehouse (its stage-1 tables and trained
model, copied to each new run id), run ``python -m samplegen.cli generate`` (densify: the
model samples in ``mapInPandas`` on the executors) in a subprocess in its own session, and
SIGKILL real processes of it; every process of that session is killed when a test ends,
passed or not.
The reference is the same config generated undisturbed in-process: draws are seeded per user,
so a correct run writes exactly its rows.

* ``test_executor_killed_mid_generation_is_retried_without_duplicates``: on
  ``local-cluster[2,1,1024]`` (two executor JVMs), one executor is killed while it runs a
  generation task. The job must succeed through task retry (the driver logs the task lost
  with ``ExecutorLostFailure``) and write the reference rows once, with no duplicate user.
  Timing: executors start Python workers (``pyspark.daemon``) only for ``mapInPandas``, and
  the first task of the write job then needs seconds (torch import, model load) before it
  returns rows, so the test kills the first executor JVM of the run (found in ``/proc`` by
  session id and ``CoarseGrainedExecutorBackend``) as soon as it has a ``pyspark.daemon``
  child after the generate stage started. It checks that the table had no new commit at the
  kill and that the driver logged the lost task; if not, it retries once with a fresh run id
  and otherwise fails.
* ``test_driver_killed_mid_write_leaves_the_table_unchanged_and_a_rerun_writes_once``: the
  driver (``local[2]``) is killed with its whole process group while it writes
  ``synthetic_interactions``. The table must stay at its version, with its history unchanged
  and no row of that run visible, the written files lying orphaned outside the table; a
  rerun of the same run id (the CLI again: the killed stage was never recorded as done)
  must write the reference rows exactly once and leave the other runs' rows alone.
  Timing: the table directory is polled every 10 ms and the driver is killed as soon as a
  data file of the run appears under ``run_id=<run>/``: the tasks write their files before
  the driver commits, and the driver still has to look for the files to replace before it
  commits (about half a second on a loaded 2-core machine). After the kill the test checks
  that the next ``_delta_log`` commit does not exist; if it does, the kill came too late and
  the test retries with a new run id, three times at most, then fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from samplegen.generate import run_generate
from samplegen.models.store import model_dir
from samplegen.tables import (
    AUGMENTED_TRAIN,
    SYNTHETIC_INTERACTIONS,
    delta_version,
    read_table,
    table_path,
)
from tests.conftest import REPO, RUN_ID, SUBPROCESS_JVM

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.drill]

REFERENCE = "fault-ref"
POLL_S = 0.01


def proc_info(pid: int) -> tuple[int, int, str] | None:
    """``(ppid, session id, command line)`` of a live process, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp session
    return int(fields[1]), int(fields[3]), cmdline


def session_processes(sid: int) -> dict[int, tuple[int, str]]:
    """Every live process of session ``sid``: pid -> (ppid, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := proc_info(int(entry.name))) and info[1] == sid:
            found[int(entry.name)] = (info[0], info[2])
    return found


def kill_session(sid: int) -> None:
    """SIGKILL every process of session ``sid``: the JVMs and the Python workers, which
    ``pyspark.daemon`` moves to process groups of their own."""
    for _ in range(20):
        pids = [p for p in session_processes(sid) if p != os.getpid()]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


class Generate:
    """``samplegen generate`` in a subprocess of its own session; its output read by a thread."""

    def __init__(self, conf: Path, run_id: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "samplegen.cli", "generate", "--conf", str(conf)]
            + ["--run-id", run_id],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def saw(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def output(self) -> str:
        return "".join(self.lines)

    def wait(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"generate ran over {timeout}s:\n{self.output()[-3000:]}")
        self.reader.join(timeout=10)
        return code

    def kill(self) -> None:
        kill_session(self.proc.pid)
        self.proc.wait()

    def __enter__(self) -> Generate:
        return self

    def __exit__(self, *exc) -> None:
        self.kill()  # whatever happened, nothing of this run outlives the test
        self.reader.join(timeout=10)


def write_conf(cfg, folder: Path, master: str, conf: dict[str, str]) -> Path:
    """The test config for a subprocess: same lakehouse, models and generate settings."""
    settings = {**cfg.spark.conf, **SUBPROCESS_JVM, **conf}
    spark = dataclasses.replace(cfg.spark, master=master, conf=settings)
    path = folder / f"{master.split('[')[0]}.yaml"
    path.write_text(yaml.safe_dump(dataclasses.replace(cfg, spark=spark).to_dict()))
    return path


def with_model(cfg, run_id: str) -> str:
    shutil.copytree(model_dir(cfg, RUN_ID), model_dir(cfg, run_id), dirs_exist_ok=True)
    return run_id


def rows_of(spark, cfg, run_id: str) -> list[tuple[int, tuple[int, ...]]]:
    """``run_id``'s synthetic rows as sorted ``(user_idx, item_idx)`` pairs."""
    df = read_table(spark, cfg.lakehouse, SYNTHETIC_INTERACTIONS).where(F.col("run_id") == run_id)
    return sorted((r.user_idx, tuple(r.item_idx)) for r in df.collect())


def other_runs(spark, cfg, run_id: str) -> list[tuple[str, int, int]]:
    """Every other run's row count and a checksum of its rows."""
    df = read_table(spark, cfg.lakehouse, SYNTHETIC_INTERACTIONS).where(F.col("run_id") != run_id)
    checksum = F.sum(F.hash("user_idx", "item_idx", "weight").cast("long"))
    rows = df.groupBy("run_id").agg(F.count("*").alias("n"), checksum.alias("h")).collect()
    return sorted((r.run_id, r.n, r.h) for r in rows)


def history(spark, cfg) -> list[tuple]:
    path = table_path(cfg.lakehouse, SYNTHETIC_INTERACTIONS)
    done = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()
    return [(r.version, r.timestamp, r.operation, str(r.operationParameters)) for r in done]


def commit_file(cfg, version: int) -> Path:
    log = Path(table_path(cfg.lakehouse, SYNTHETIC_INTERACTIONS)) / "_delta_log"
    return log / f"{version:020d}.json"


def data_files(cfg, run_id: str) -> set[str]:
    folder = Path(table_path(cfg.lakehouse, SYNTHETIC_INTERACTIONS)) / f"run_id={run_id}"
    return {p.name for p in folder.glob("*.parquet")} if folder.exists() else set()


@pytest.fixture(scope="module")
def reference(spark, cfg, pipeline_run):
    """The rows of the test config generated undisturbed, in-process."""
    run_generate(spark, cfg, with_model(cfg, REFERENCE))
    rows = rows_of(spark, cfg, REFERENCE)
    assert rows and len({user for user, _ in rows}) == len(rows)
    return rows


def kill_an_executor_mid_generation(job: Generate, cfg, run_id: str, version: int) -> str | None:
    """SIGKILL the first executor of ``job`` that runs a Python worker; say why not if none."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and job.proc.poll() is None:
        if job.saw(f"stage=generate run_id={run_id} event=start"):
            procs = session_processes(job.proc.pid)
            executors = {
                p for p, (_, cmd) in procs.items() if "CoarseGrainedExecutorBackend" in cmd
            }
            busy = sorted(
                ppid
                for ppid, cmd in procs.values()
                if ppid in executors and "pyspark.daemon" in cmd
            )
            if busy:
                os.kill(busy[0], signal.SIGKILL)
                if commit_file(cfg, version + 1).exists():
                    return "the table was already committed when the executor was killed"
                return None
        time.sleep(POLL_S)
    if not job.saw(f"stage=generate run_id={run_id} event=start"):
        return "the generate stage did not start"
    return "no executor ran a Python worker while the job ran"


def test_executor_killed_mid_generation_is_retried_without_duplicates(
    spark, cfg, reference, tmp_path
):
    conf = write_conf(cfg, tmp_path, "local-cluster[2,1,1024]", {"spark.task.maxFailures": "4"})
    misses = []
    for run_id in ("fault-exec", "fault-exec-2"):  # a second try only if the kill missed
        version = delta_version(spark, cfg.lakehouse, SYNTHETIC_INTERACTIONS)
        with Generate(conf, with_model(cfg, run_id)) as job:
            missed = kill_an_executor_mid_generation(job, cfg, run_id, version)
            code = job.wait(timeout=300)
        output = job.output()
        assert code == 0, output[-3000:]
        lost = [line for line in output.splitlines() if "ExecutorLostFailure" in line]
        if missed is None and any("Lost task" in line for line in lost):
            break
        misses.append(f"{run_id}: {missed or 'no task was lost'}")
    else:
        pytest.fail("the executor kill never hit a running task: " + "; ".join(misses))
    assert f"run {run_id} finished" in output
    rows = rows_of(spark, cfg, run_id)
    assert len({user for user, _ in rows}) == len(rows)  # no user twice
    assert rows == reference  # the retried task drew the same rows


def test_driver_killed_mid_write_leaves_the_table_unchanged_and_a_rerun_writes_once(
    spark, cfg, reference, tmp_path
):
    conf = write_conf(cfg, tmp_path, "local[2]", {})
    misses = []
    for run_id in ("fault-driver", "fault-driver-2", "fault-driver-3"):
        before = history(spark, cfg)
        others = other_runs(spark, cfg, run_id)
        with Generate(conf, with_model(cfg, run_id)) as job:
            deadline = time.monotonic() + 240
            while not data_files(cfg, run_id) and job.proc.poll() is None:
                assert time.monotonic() < deadline, job.output()[-3000:]
                time.sleep(POLL_S)
            with contextlib.suppress(ProcessLookupError):  # the driver JVM, its Python parent
                os.killpg(job.proc.pid, signal.SIGKILL)
        if data_files(cfg, run_id) and not commit_file(cfg, before[0][0] + 1).exists():
            break
        misses.append(f"{run_id}: exited {job.proc.returncode}, committed before the kill")
    else:
        pytest.fail("the driver was never killed mid-write: " + "; ".join(misses))

    assert history(spark, cfg) == before  # same version, same history
    assert rows_of(spark, cfg, run_id) == []  # nothing of the killed write is visible
    in_table = {
        Path(f).name for f in read_table(spark, cfg.lakehouse, SYNTHETIC_INTERACTIONS).inputFiles()
    }
    orphans = data_files(cfg, run_id)
    assert orphans and not orphans & in_table

    with Generate(conf, run_id) as rerun:
        code = rerun.wait(timeout=300)
    assert code == 0, rerun.output()[-3000:]
    assert f"run {run_id} finished" in rerun.output()
    assert history(spark, cfg)[0][0] == before[0][0] + 1  # one commit for the rerun
    rows = rows_of(spark, cfg, run_id)
    assert len({user for user, _ in rows}) == len(rows)  # the orphaned rows did not come back
    assert rows == reference
    assert other_runs(spark, cfg, run_id) == others
    augmented = read_table(spark, cfg.lakehouse, AUGMENTED_TRAIN).where(F.col("run_id") == run_id)
    assert augmented.where(F.col("is_synthetic")).count() == len(reference)
