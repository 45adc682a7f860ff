"""Where a Spark application spent its time, from its event log: task seconds per SQL query.

Run a benchmark with ``spark.eventLog.enabled=true`` and ``spark.eventLog.dir=file:///DIR``
(e.g. ``--set 'spark.conf={..., "spark.eventLog.enabled": "true", "spark.eventLog.dir":
"file:///tmp/events"}'``), then::

    python bench/eventlog_time.py /tmp/events/eventlog_v2_local-*/events_1_*  [--top 15]

It prints the summed executor run time of every SQL execution (a Delta write, a ``collect``,
a ``localCheckpoint``), biggest first, with the tables its plan reads (not the one it writes)
and the rows its stages wrote to shuffles, and how long the application had 0, 1 or 2+ tasks
running (wall seconds that no task used are driver work: Delta commits, planning, Python).
Compressed logs (``.zstd``, the default codec) are read through the ``zstd`` command.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Execution:
    """One SQL execution: its description, the tables in its plan and its stages' task time."""

    description: str = ""
    tables: set[str] = field(default_factory=set)
    stages: dict[int, float] = field(default_factory=dict)
    shuffle_written: int = 0


def events(path: str) -> Iterator[dict]:
    """The log's JSON events, decompressing a ``.zstd`` log on the fly."""
    if path.endswith(".zstd"):
        text = subprocess.run(["zstd", "-qdc", path], check=True, capture_output=True).stdout
        lines = text.decode().splitlines()
    else:
        with open(path) as handle:
            lines = handle.read().splitlines()
    for line in lines:
        yield json.loads(line)


def summarise(path: str) -> tuple[dict[str, Execution], dict[int, float], float]:
    """Executions by id, wall seconds by tasks running (0, 1, 2 = two or more), and the total."""
    executions: dict[str, Execution] = collections.defaultdict(Execution)
    stage_execution: dict[int, str] = {}
    intervals: list[tuple[int, int]] = []
    start = end = 0
    for event in events(path):
        kind = event["Event"]
        if kind == "SparkListenerApplicationStart":
            start = event["Timestamp"]
        elif kind == "SparkListenerApplicationEnd":
            end = event["Timestamp"]
        elif kind.endswith("SparkListenerSQLExecutionStart"):
            execution = executions[str(event["executionId"])]
            execution.description = event.get("description", "")[:70]
            plan = event.get("physicalPlanDescription", "")
            execution.tables = set(re.findall(r"Location: \w+ \[file:[^\]]*/([a-z_]+)\]", plan))
        elif kind == "SparkListenerJobStart":
            execution_id = (event.get("Properties") or {}).get("spark.sql.execution.id")
            for stage in event["Stage IDs"]:
                stage_execution[stage] = str(execution_id)
        elif kind == "SparkListenerTaskEnd":
            stage = event["Stage ID"]
            metrics = event.get("Task Metrics") or {}
            execution = executions[stage_execution.get(stage, "none")]
            seconds = metrics.get("Executor Run Time", 0) / 1000
            execution.stages[stage] = execution.stages.get(stage, 0.0) + seconds
            written = metrics.get("Shuffle Write Metrics", {}).get("Shuffle Records Written", 0)
            execution.shuffle_written += written
            info = event["Task Info"]
            intervals.append((info["Launch Time"], info["Finish Time"]))
    return executions, concurrency(intervals, start, end), (end - start) / 1000


def concurrency(intervals: list[tuple[int, int]], start: int, end: int) -> dict[int, float]:
    """Wall seconds with 0, 1 and 2 or more tasks running between ``start`` and ``end``."""
    edges = sorted([(t0, 1) for t0, _ in intervals] + [(t1, -1) for _, t1 in intervals])
    seconds = {0: 0.0, 1: 0.0, 2: 0.0}
    running, last = 0, start
    for time, step in edges:
        seconds[min(running, 2)] += (time - last) / 1000
        running, last = running + step, time
    seconds[0] += max(0, end - last) / 1000
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", help="a Spark event log file (plain or .zstd)")
    parser.add_argument("--top", type=int, default=15, help="executions to list")
    args = parser.parse_args()
    executions, running, total = summarise(args.log)
    task_total = sum(sum(e.stages.values()) for e in executions.values())
    print(f"application {total:.1f} s; task time {task_total:.1f} s")
    print(
        f"wall with 0 tasks running {running[0]:.1f} s, 1 task {running[1]:.1f} s, "
        f"2+ tasks {running[2]:.1f} s"
    )
    ranked = sorted(executions.items(), key=lambda kv: -sum(kv[1].stages.values()))
    for key, execution in ranked[: args.top]:
        tables = ", ".join(sorted(execution.tables)) or "-"
        print(
            f"{sum(execution.stages.values()):7.1f} s  execution {key:>4}  "
            f"{len(execution.stages)} stages  shuffle rows written {execution.shuffle_written:>11,}"
            f"  {execution.description}  [{tables}]"
        )


if __name__ == "__main__":
    main()
