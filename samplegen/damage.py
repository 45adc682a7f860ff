"""A Delta data file that a table lists but that is gone: named, with the command that repairs it.

Files vanish when deleted outside Delta or by a VACUUM shorter than a job's run; Spark then
fails with a bare "file not found". :func:`explained_missing_files` turns that into a
:class:`~samplegen.state.DamagedStateError` naming the file, its table and the repair.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from samplegen.state import DamagedStateError
from samplegen.tables import EVAL_METRICS, ITEM_INDEX, TABLES, TUNING_TRIALS, USER_INDEX, Table

#: How Spark and Delta say that a data file listed in the Delta log is gone.
_FILE_GONE = re.compile(r"FileNotFoundException|FILE_NOT_EXIST|does not exist")
#: A data file's path in such a message.
_DATA_FILE = re.compile(r"(?:[a-z0-9]+:)?/[^\s'\"\[\]]+?\.parquet")


def _repair_table(table: Table, path: str, run_id: str | None) -> str:
    """What rewrites ``table`` (at ``path``) without reading the lost file."""
    vacuum = (
        "; files vanish when deleted outside Delta or by a VACUUM whose retention is shorter "
        f"than a job's run: keep the default 7 days (SQL: VACUUM delta.`{path}`)"
    )
    if table in (USER_INDEX, ITEM_INDEX):
        return (
            "the index is kept across loads, so it cannot be rebuilt from the input: restore "
            f"its last intact version (SQL: RESTORE TABLE delta.`{path}` TO VERSION AS OF <n>, "
            "versions from DESCRIBE HISTORY) or renumber every id with `samplegen aggregate "
            "--force --set aggregate.keep_indices=false` and retrain" + vacuum
        )
    if not table.per_run:
        return "rebuild the stage-1 tables from the input: `samplegen aggregate --force`" + vacuum
    run = run_id or "<run_id>"
    if table is TUNING_TRIALS:
        return f"rewrite that run's rows: `samplegen tune --run-id {run}`" + vacuum
    stage = "evaluate" if table is EVAL_METRICS else "generate"
    return f"rewrite that run's rows: `samplegen {stage} --run-id {run} --force`" + vacuum


def missing_data_file(err: BaseException) -> DamagedStateError | None:
    """A Spark error about a data file that a Delta table lists but that is gone, explained.

    Returns a :class:`~samplegen.state.DamagedStateError` naming the file, its table and the
    command that rewrites the table, or None when ``err`` is about something else.
    """
    text = str(err)
    if not _FILE_GONE.search(text):
        return None
    for match in _DATA_FILE.finditer(text):
        file = match.group(0)
        for name, table in TABLES.items():
            at = file.find(f"/{name}/")
            if at >= 0:
                run = re.search(r"/run_id=([^/]+)/", file)
                path = file[: at + len(name) + 1]
                problem = f"is gone but the Delta table {name!r} lists it"
                return DamagedStateError(
                    file, problem, _repair_table(table, path, run.group(1) if run else None)
                )
    return None


@contextmanager
def explained_missing_files() -> Iterator[None]:
    """Turn a Spark error about a lost Delta data file into :func:`missing_data_file`'s error."""
    try:
        yield
    except Exception as err:
        damaged = missing_data_file(err)
        if damaged is None:
            raise
        raise damaged from err
