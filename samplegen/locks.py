"""The aggregate lock: two loads into one lakehouse never interleave index assignment.

Stage-1 tables are replaced whole by ``aggregate``, and a load assigns dense indices from the
previous load's, so two loads must take turns. :func:`aggregate_lock` does it through a small
append-only Delta table, :data:`~samplegen.tables.AGGREGATE_LOCK` (a folder under the lakehouse,
or a name in the catalog schema); the load that did not get it stops with
:class:`LakehouseBusyError`, naming the load that holds it.

The lock table only ever receives blind appends (which never conflict with each other): a load
appends a ``claim`` row with a fresh token, reads the table back, and holds the lock when its
claim is the earliest live one by commit version (``release`` rows end claims; a claim of a
process on this host that is no longer running is stale and skipped). Whatever the interleaving,
every load sees the same order, so exactly one proceeds.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import SparkSession

from samplegen.runinfo import LOG
from samplegen.tables import (
    AGGREGATE_LOCK,
    Where,
    append_rows,
    as_store,
    read_table,
    sql_ref,
    table_history,
)

_LOCK_META = "samplegen-lock:"


class LakehouseBusyError(RuntimeError):
    """Another ``aggregate`` holds the lakehouse's aggregate lock."""


@dataclass(frozen=True)
class Claim:
    """One load's claim of the aggregate lock."""

    token: str
    run_id: str
    host: str
    pid: int
    at: datetime
    version: int


def lock_ref(where: Where) -> str:
    """Where the lock table is, as SQL names it: ``delta.`<path>``` or the catalog name."""
    return sql_ref(where, AGGREGATE_LOCK)


def append_lock_row(
    spark: SparkSession,
    where: Where,
    token: str,
    action: str,
    run_id: str,
    host: str | None = None,
    pid: int | None = None,
) -> None:
    """Append one ``claim`` or ``release`` row (this process's host and pid unless given).

    A blind append: it never conflicts with another load's append (a conflict while two loads
    create the table is retried).
    """
    at = datetime.now(UTC)
    row = (token, action, run_id, host or socket.gethostname(), pid or os.getpid(), at)
    frame = spark.createDataFrame([row], AGGREGATE_LOCK.schema)
    append_rows(frame, where, AGGREGATE_LOCK, f"{_LOCK_META}{token}:{action}")


def _alive(claim: Claim) -> bool:
    """False only for a claim of a process on this host that is no longer running."""
    if claim.host != socket.gethostname():
        return True
    try:
        os.kill(claim.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_claims(spark: SparkSession, where: Where) -> list[Claim]:
    """Unreleased claims of live processes, earliest commit first."""
    rows = read_table(spark, where, AGGREGATE_LOCK).collect()
    released = {r["token"] for r in rows if r["action"] == "release"}
    versions = {}
    history = table_history(spark, where, AGGREGATE_LOCK).select("version", "userMetadata")
    for entry in history.collect():
        meta = entry["userMetadata"] or ""
        if meta.startswith(_LOCK_META) and meta.endswith(":claim"):
            versions[meta[len(_LOCK_META) : -len(":claim")]] = int(entry["version"])
    claims = [
        # A claim whose commit left the log's retention is old: it sorts first and still counts.
        Claim(r["token"], r["run_id"], r["host"], r["pid"], r["at"], versions.get(r["token"], -1))
        for r in rows
        if r["action"] == "claim" and r["token"] not in released
    ]
    live = []
    for claim in sorted(claims, key=lambda c: (c.version, c.token)):
        if _alive(claim):
            live.append(claim)
        else:
            LOG.warning(
                "event=stale_aggregate_lock run_id=%s pid=%d host=%s: that process is gone; "
                "its claim is ignored",
                claim.run_id,
                claim.pid,
                claim.host,
            )
    return live


def busy_message(where: Where, holder: Claim, run_id: str) -> str:
    """What the load that did not get the lock is told: who has it and what to do."""
    return (
        f"another aggregate is loading into {as_store(where).where()}: run {holder.run_id!r} (host "
        f"{holder.host}, pid {holder.pid}, since {holder.at:%Y-%m-%d %H:%M:%S}) holds the "
        "aggregate lock, and two loads must not interleave index assignment. Nothing was "
        f"written by this load; when that one has finished, rerun `samplegen aggregate "
        f"--run-id {run_id}`. If that load is dead, release its lock with the SQL "
        f"DELETE FROM {lock_ref(where)} WHERE token = '{holder.token}'"
    )


@contextmanager
def aggregate_lock(spark: SparkSession, where: Where, run_id: str) -> Iterator[None]:
    """Hold the lakehouse's aggregate lock inside the block.

    Raises:
        LakehouseBusyError: another live load holds it (this load's claim is withdrawn).
    """
    token = uuid.uuid4().hex
    append_lock_row(spark, where, token, "claim", run_id)
    try:
        claims = live_claims(spark, where)
        holder = next((c for c in claims if c.token != token), None)
        mine = next(c for c in claims if c.token == token)
        if holder is not None and (holder.version, holder.token) < (mine.version, mine.token):
            raise LakehouseBusyError(busy_message(where, holder, run_id))
        LOG.info("stage=aggregate run_id=%s event=lock_held lock=%s", run_id, lock_ref(where))
        yield
    finally:
        append_lock_row(spark, where, token, "release", run_id)
