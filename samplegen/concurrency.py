"""Jobs sharing one lakehouse: Delta write conflicts retried or refused, and the aggregate lock.

Two scheduled jobs may write the same lakehouse at once. Delta's optimistic concurrency makes
the loser of a conflicting commit fail (``ConcurrentAppendException``,
``MetadataChangedException`` when two jobs create a table, ...) without writing anything, so:

- A per-run write (``replaceWhere run_id = X`` on a table partitioned by ``run_id``) is
  idempotent and touches only its run's partition: :func:`retry_conflicts` retries it with
  jittered exponential backoff.
- Stage-1 tables are replaced whole by ``aggregate``, and a load assigns dense indices from the
  previous load's: two loads must never interleave. :func:`aggregate_lock` makes them take
  turns through a small append-only Delta table, ``<lakehouse>/_aggregate_lock``; the load
  that did not get it stops with :class:`LakehouseBusyError`, naming the load that holds it.

The lock table only ever receives blind appends (which never conflict with each other): a load
appends a ``claim`` row with a fresh token, reads the table back, and holds the lock when its
claim is the earliest live one by commit version (``release`` rows end claims; a claim of a
process on this host that is no longer running is stale and skipped). Whatever the interleaving,
every load sees the same order, so exactly one proceeds.
"""

from __future__ import annotations

import os
import random
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from samplegen.runinfo import LOG
from samplegen.state import short_reason

Result = TypeVar("Result")

#: How Delta names a commit that lost to a concurrent one (error classes and exception names).
_CONFLICT = re.compile(
    r"DELTA_CONCURRENT_\w+|DELTA_METADATA_CHANGED|DELTA_PROTOCOL_CHANGED"
    r"|Concurrent(?:Append|DeleteRead|DeleteDelete|Transaction|Write)Exception"
    r"|MetadataChangedException|ProtocolChangedException"
)
#: Tries of a conflicting idempotent write before giving up.
RETRY_ATTEMPTS = 6
#: First backoff in seconds; doubled per try, times a random factor in [1, 2).
RETRY_BASE_SECONDS = 0.5

LOCK_TABLE = "_aggregate_lock"
_LOCK_SCHEMA = T.StructType(
    [
        T.StructField("token", T.StringType(), False),
        T.StructField("action", T.StringType(), False),
        T.StructField("run_id", T.StringType(), False),
        T.StructField("host", T.StringType(), False),
        T.StructField("pid", T.LongType(), False),
        T.StructField("at", T.TimestampType(), False),
    ]
)
_LOCK_META = "samplegen-lock:"


class ConcurrentWriteError(RuntimeError):
    """Another job changed a table this job was replacing whole: the write was refused."""


class LakehouseBusyError(RuntimeError):
    """Another ``aggregate`` holds the lakehouse's aggregate lock."""


def conflict_name(err: BaseException) -> str | None:
    """Delta's name for ``err`` if it refused a commit because a concurrent commit won."""
    found = _CONFLICT.search(f"{type(err).__name__} {err}")
    return found.group(0) if found else None


def is_conflict(err: BaseException) -> bool:
    """Whether ``err`` is Delta refusing a commit because a concurrent commit won."""
    return conflict_name(err) is not None


def retry_conflicts(
    action: Callable[[], Result],
    what: str,
    attempts: int = RETRY_ATTEMPTS,
    base_seconds: float = RETRY_BASE_SECONDS,
) -> Result:
    """Run ``action``, retrying it with backoff while Delta reports a concurrent-commit conflict.

    Only for writes that are idempotent and valid whatever the other job committed (a per-run
    ``replaceWhere``, an append of lock rows): a conflicting commit writes nothing, so the retry
    cannot duplicate rows. Other errors, and the last conflict, propagate.
    """
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as err:
            conflict = conflict_name(err)
            if conflict is None or attempt == attempts:
                raise
            delay = base_seconds * 2 ** (attempt - 1) * (1 + random.random())
            LOG.warning(
                "event=write_conflict write=%s attempt=%d/%d retry_in=%.1fs conflict=%s",
                what,
                attempt,
                attempts,
                delay,
                conflict,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def refuse_conflict(err: BaseException, table: str, path: str) -> ConcurrentWriteError:
    """The error for a conflict on a table replaced whole (stage 1), where a retry is unsafe."""
    reason = conflict_name(err) or short_reason(err)
    return ConcurrentWriteError(
        f"table {table!r} at {path} was changed by another job while this one replaced it "
        f"({reason}); stage-1 tables are written by one `samplegen aggregate` at a time: let "
        "the other job finish, then rerun this one"
    )


@dataclass(frozen=True)
class Claim:
    """One load's claim of the aggregate lock."""

    token: str
    run_id: str
    host: str
    pid: int
    at: datetime
    version: int


def lock_path(lakehouse: str) -> str:
    """``<lakehouse>/_aggregate_lock``."""
    return f"{lakehouse.rstrip('/')}/{LOCK_TABLE}"


def append_lock_row(
    spark: SparkSession,
    lakehouse: str,
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
    frame = spark.createDataFrame([row], _LOCK_SCHEMA)
    writer = frame.write.format("delta").mode("append")
    writer = writer.option("userMetadata", f"{_LOCK_META}{token}:{action}")
    retry_conflicts(lambda: writer.save(lock_path(lakehouse)), f"{LOCK_TABLE}:{action}")


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


def live_claims(spark: SparkSession, lakehouse: str) -> list[Claim]:
    """Unreleased claims of live processes, earliest commit first."""
    from delta.tables import DeltaTable

    path = lock_path(lakehouse)
    rows = spark.read.format("delta").load(path).collect()
    released = {r["token"] for r in rows if r["action"] == "release"}
    versions = {}
    history = DeltaTable.forPath(spark, path).history().select("version", "userMetadata")
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


def busy_message(lakehouse: str, holder: Claim, run_id: str) -> str:
    """What the load that did not get the lock is told: who has it and what to do."""
    return (
        f"another aggregate is loading into {lakehouse}: run {holder.run_id!r} (host "
        f"{holder.host}, pid {holder.pid}, since {holder.at:%Y-%m-%d %H:%M:%S}) holds the "
        "aggregate lock, and two loads must not interleave index assignment. Nothing was "
        f"written by this load; when that one has finished, rerun `samplegen aggregate "
        f"--run-id {run_id}`. If that load is dead, release its lock with the SQL "
        f"DELETE FROM delta.`{lock_path(lakehouse)}` WHERE token = '{holder.token}'"
    )


@contextmanager
def aggregate_lock(spark: SparkSession, lakehouse: str, run_id: str) -> Iterator[None]:
    """Hold the lakehouse's aggregate lock inside the block.

    Raises:
        LakehouseBusyError: another live load holds it (this load's claim is withdrawn).
    """
    token = uuid.uuid4().hex
    append_lock_row(spark, lakehouse, token, "claim", run_id)
    try:
        claims = live_claims(spark, lakehouse)
        holder = next((c for c in claims if c.token != token), None)
        mine = next(c for c in claims if c.token == token)
        if holder is not None and (holder.version, holder.token) < (mine.version, mine.token):
            raise LakehouseBusyError(busy_message(lakehouse, holder, run_id))
        LOG.info("stage=aggregate run_id=%s event=lock_held lock=%s", run_id, lock_path(lakehouse))
        yield
    finally:
        append_lock_row(spark, lakehouse, token, "release", run_id)
