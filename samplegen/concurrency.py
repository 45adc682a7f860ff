"""Jobs sharing one lakehouse: Delta write conflicts retried or refused.

Two scheduled jobs may write the same lakehouse at once. Delta's optimistic concurrency makes
the loser of a conflicting commit fail (``ConcurrentAppendException``,
``MetadataChangedException`` when two jobs create a table, ...) without writing anything, so:

- A per-run write (``replaceWhere run_id = X`` on a table partitioned by ``run_id``) is
  idempotent and touches only its run's partition: :func:`retry_conflicts` retries it with
  jittered exponential backoff.
- Stage-1 tables are replaced whole by ``aggregate``: a conflict there is refused
  (:func:`refuse_conflict`); :mod:`samplegen.locks` keeps two loads from interleaving at all.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import TypeVar

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


class ConcurrentWriteError(RuntimeError):
    """Another job changed a table this job was replacing whole: the write was refused."""


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
