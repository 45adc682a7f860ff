"""The aggregate lock and Delta conflict handling (the corpus's CONCURRENCY_CASES with claims).

Each lock case writes the claims the corpus gives into a fresh lakehouse's lock table, then
starts a load: it must be refused before writing anything, naming the other load, or proceed.
The race itself (two processes) is tests/e2e/test_concurrency.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

from samplegen.concurrency import (
    ConcurrentWriteError,
    conflict_name,
    is_conflict,
    retry_conflicts,
)
from samplegen.features import run_aggregate
from samplegen.locations import local_commit_metrics
from samplegen.locks import LakehouseBusyError, aggregate_lock, append_lock_row, live_claims
from samplegen.tables import (
    AGGREGATE_LOCK,
    AUGMENTED_TRAIN,
    DATA_PROFILE,
    read_table,
    table_history,
    table_path,
    write_table,
)
from tests.conftest import small_config
from tests.corpus.bad_input import CONCURRENCY_CASES, ConcurrencyCase

pytestmark = pytest.mark.spark

LOCK_CASES = [c for c in CONCURRENCY_CASES if c.claims]
#: What Delta says when two jobs create one table at once (a real message, shortened).
PROTOCOL_CHANGED = (
    "[DELTA_PROTOCOL_CHANGED] ProtocolChangedException: The protocol version of the Delta "
    "table has been changed by a concurrent update. This happens when multiple writers are "
    "writing to an empty directory."
)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _write_claims(spark, lakehouse: str, case: ConcurrencyCase) -> None:
    for run_id, host, pid in case.claims:
        append_lock_row(
            spark,
            lakehouse,
            uuid.uuid4().hex,
            "claim",
            run_id,
            host=socket.gethostname() if host == "here" else host,
            pid=os.getpid() if pid == "live" else _dead_pid(),
        )


@pytest.mark.parametrize("case", LOCK_CASES, ids=lambda c: c.name)
def test_a_load_meets_the_claims_of_other_loads(case: ConcurrencyCase, spark, tmp_path):
    cfg = small_config(tmp_path)
    _write_claims(spark, cfg.lakehouse, case)
    if case.outcome == "proceeds":
        with aggregate_lock(spark, cfg.lakehouse, "r1"):
            (held,) = live_claims(spark, cfg.lakehouse)
            assert held.run_id == "r1"
        assert live_claims(spark, cfg.lakehouse) == []
        return
    with pytest.raises(LakehouseBusyError, match=case.outcome) as caught:
        run_aggregate(spark, cfg, "r1")
    assert "\n" not in str(caught.value)
    nothing_written = [AGGREGATE_LOCK.name]
    assert [p.name for p in Path(cfg.lakehouse).iterdir()] == nothing_written
    assert [c.run_id for c in live_claims(spark, cfg.lakehouse)] == ["other-load"]  # withdrawn


def test_conflicts_of_idempotent_writes_are_retried_and_others_are_not():
    calls = []

    def conflicting_twice() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError(PROTOCOL_CHANGED)
        return "written"

    assert is_conflict(RuntimeError(PROTOCOL_CHANGED))
    assert retry_conflicts(conflicting_twice, "t", base_seconds=0.01) == "written"
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(RuntimeError, match="DELTA_PROTOCOL_CHANGED"):
        retry_conflicts(conflicting_twice, "t", attempts=2, base_seconds=0.01)
    with pytest.raises(ValueError, match="not a conflict"):
        retry_conflicts(lambda: (_ for _ in ()).throw(ValueError("not a conflict")), "t")


def _at_once(jobs: dict[str, object]) -> dict[str, object]:
    """Run every job in its own thread, released together; each one's result or error."""
    start = threading.Barrier(len(jobs))
    outcomes: dict[str, object] = {}

    def run(name: str) -> None:
        start.wait()
        try:
            outcomes[name] = jobs[name]()
        except Exception as err:
            outcomes[name] = err

    threads = [threading.Thread(target=run, args=(name,)) for name in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_two_runs_creating_a_per_run_table_at_once_both_land_once(spark, tmp_path):
    """Both commits race for version 0 of a new table: the loser's conflict is retried, and
    each write counts the rows of its own commit (not the table's latest one)."""
    sizes = {"ra": 3, "rb": 5}
    frames = {
        run: spark.createDataFrame(
            [(run, i, [1], [1.0], False) for i in range(n)], AUGMENTED_TRAIN.schema
        )
        for run, n in sizes.items()
    }
    lake = str(tmp_path)
    written = _at_once(
        {run: lambda run=run: write_table(frames[run], lake, AUGMENTED_TRAIN, run) for run in sizes}
    )
    assert written == sizes
    rows = read_table(spark, str(tmp_path), AUGMENTED_TRAIN).groupBy("run_id").count()
    assert dict(rows.collect()) == sizes


def test_a_conflict_on_a_stage1_table_is_refused_not_retried(spark, tmp_path):
    """Two jobs replacing a whole (stage-1) table at once: a retry could mix two loads, so the
    loser stops naming the table; it is never a raw Delta error."""
    frame = spark.createDataFrame([("users", 1.0)], DATA_PROFILE.schema)
    lake = str(tmp_path)
    outcomes = _at_once({n: lambda: write_table(frame, lake, DATA_PROFILE) for n in "ab"})
    errors = [o for o in outcomes.values() if isinstance(o, Exception)]
    assert all(isinstance(e, ConcurrentWriteError) for e in errors), errors
    for err in errors:
        assert "table 'data_profile'" in str(err)
        assert f"({conflict_name(err.__cause__)})" in str(err)  # Delta's name for the conflict
    assert len(errors) < 2


def test_rows_written_read_from_the_local_log_match_the_history(spark, tmp_path):
    """``write_table`` counts a local table's rows from its commit file; ``DESCRIBE HISTORY``
    (what a URI or catalog table asks) says the same for every commit, replaced or per run."""
    lake = str(tmp_path)
    frame = spark.createDataFrame([("users", float(i)) for i in range(7)], DATA_PROFILE.schema)
    counts = [
        write_table(frame, lake, DATA_PROFILE),
        write_table(frame.limit(4), lake, DATA_PROFILE),
    ]
    for run, n in (("ra", 3), ("rb", 2)):
        rows = [(run, i, [1], [1.0], False) for i in range(n)]
        counts.append(
            write_table(
                spark.createDataFrame(rows, AUGMENTED_TRAIN.schema), lake, AUGMENTED_TRAIN, run
            )
        )
    assert counts == [7, 4, 3, 2]
    tokens = {}
    for table in (DATA_PROFILE, AUGMENTED_TRAIN):
        history = table_history(spark, lake, table).select("userMetadata", "operationMetrics")
        tokens[table.name] = [(r[0], int(r[1]["numOutputRows"])) for r in history.collect()]
        for token, rows in tokens[table.name]:
            metrics = local_commit_metrics(table_path(lake, table), token, 100)
            assert metrics["numOutputRows"] == str(rows)
    assert sorted(n for _, n in tokens["augmented_train"]) == [2, 3]
    assert local_commit_metrics(table_path(lake, DATA_PROFILE), "no-such-token", 100) is None
    uri = table_path("s3a://bucket/lakehouse", DATA_PROFILE)  # the session reads it, not Python
    assert local_commit_metrics(uri, tokens["data_profile"][0][0], 100) is None
