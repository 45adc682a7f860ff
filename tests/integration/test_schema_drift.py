"""Schema drift between two loads of one lakehouse (the corpus's DRIFT cases), in real Spark.

A tiny log (a few hundred rows) is loaded by ``run_aggregate`` with ``aggregate.keep_indices``;
then the second load, whose file drifted as ``SECOND_LOAD_CHANGES`` says (a new column, float
user ids, text quantities and times, a renamed price column, a new event type), is tried
unmapped (each ``DriftErrorCase`` must stop before writing anything) and then loaded with
``data.columns.price`` mapping the rename. Every drift row case is tagged by its session_id.
Finally a data file of ``user_index`` is deleted and a third load through ``run_stages`` must
name it (a damaged lakehouse between loads).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from samplegen.features import run_aggregate
from samplegen.pipeline import run_stages
from samplegen.state import DamagedStateError
from samplegen.tables import (
    EVENTS_CLEAN,
    EVENTS_QUARANTINE,
    RAW_EVENTS,
    USER_INDEX,
    read_table,
)
from tests.conftest import small_config
from tests.corpus.bad_input import (
    DRIFT_CASES,
    DRIFT_ERROR_CASES,
    SECOND_LOAD_CHANGES,
    DriftCase,
    DriftErrorCase,
)

pytestmark = [pytest.mark.spark, pytest.mark.slow]

WEIGHTS = {"view": 1.0, "click": 2.0, "cart": 3.0, "purchase": 5.0}
N_USERS, N_ITEMS, PER_USER = 30, 20, 8
START = datetime(2024, 3, 1, tzinfo=UTC)


def _base_rows(first_user: int, start: datetime) -> list[tuple]:
    """``N_USERS * PER_USER`` plain events: (user, item, type, time, quantity, price, session)."""
    kinds = list(WEIGHTS)
    rows = []
    for u in range(first_user, first_user + N_USERS):
        for n in range(PER_USER):
            item = f"i{(u * 7 + n * 3) % N_ITEMS}"
            time = start + timedelta(hours=u * PER_USER + n)
            rows.append((u, item, kinds[(u + n) % 4], time, 1.0, 2.5, "base"))
    return rows


def _first_load_file(path: Path) -> Path:
    rows = _base_rows(0, START)
    columns = list(zip(*rows, strict=True))
    table = pa.table(
        {
            "user_id": pa.array(columns[0], pa.int64()),
            "item_id": pa.array(columns[1], pa.string()),
            "event_type": pa.array(columns[2], pa.string()),
            "event_time": pa.array(columns[3], pa.timestamp("us", tz="UTC")),
            "quantity": pa.array(columns[4], pa.float64()),
            "price": pa.array(columns[5], pa.float64()),
            "session_id": pa.array(columns[6], pa.string()),
        }
    )
    path.mkdir(parents=True)
    pq.write_table(table, path / "part-0.parquet")
    return path


def _second_load_file(path: Path, rename: dict[str, str]) -> Path:
    """The first load's rows and more, in the drifted types, plus every DriftCase's rows."""
    assert set(SECOND_LOAD_CHANGES) == {"channel", "user_id", "quantity", "event_time", "price"}
    old = _base_rows(0, START) + _base_rows(10, START + timedelta(days=12))  # users 10..39
    rows = [
        (float(u), i, k, t.strftime("%Y-%m-%d %H:%M:%S"), str(q), p, s)
        for u, i, k, t, q, p, s in old
    ]
    rows += [(*row, case.name) for case in DRIFT_CASES for row in case.rows]
    columns = list(zip(*rows, strict=True))
    table = {
        "user_id": pa.array(columns[0], pa.float64()),
        "item_id": pa.array(columns[1], pa.string()),
        "event_type": pa.array(columns[2], pa.string()),
        "event_time": pa.array(columns[3], pa.string()),
        "quantity": pa.array(columns[4], pa.string()),
        "price": pa.array(columns[5], pa.float64()),
        "session_id": pa.array(columns[6], pa.string()),
        "channel": pa.array(["web"] * len(rows), pa.string()),
    }
    path.mkdir(parents=True)
    pq.write_table(pa.table({rename.get(k, k): v for k, v in table.items()}), path / "p.parquet")
    return path


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def drift(spark, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("drift")

    def config(events: Path, extra: tuple[str, ...] = ()):
        return small_config(
            root,
            [
                "data.source=files",
                "data.max_users=null",
                f"data.events_path={events}",
                "data.events_format=parquet",
                f"aggregate.event_weights={json.dumps(WEIGHTS)}",
                "aggregate.keep_indices=true",
                "aggregate.min_item_users=2",
                "aggregate.min_user_items=2",
                "aggregate.top_n_items=100",
                "aggregate.ctr_negatives_per_positive=0",
                "aggregate.samples_ctr=false",
                *extra,
            ],
        )

    def users() -> dict[str, int]:
        lake = config(root).lakehouse
        return {r.user_id: r.user_idx for r in read_table(spark, lake, USER_INDEX).collect()}

    run_aggregate(spark, config(_first_load_file(root / "first")), "load-1")
    lake = config(root).lakehouse
    out: dict = {"users_1": users(), "raw_1": read_table(spark, lake, RAW_EVENTS).count()}
    errors = {}
    for case in DRIFT_ERROR_CASES:
        events = _second_load_file(root / case.name, case.rename)
        try:
            run_aggregate(spark, config(events), "load-2-unmapped")
        except ValueError as err:
            errors[case.name] = str(err)
    out["errors"] = errors
    out["raw_after_errors"] = read_table(spark, lake, RAW_EVENTS).count()

    handler = _Lines()
    logging.getLogger("samplegen").addHandler(handler)
    try:
        second = _second_load_file(root / "second", {"price": "unit_price"})
        result = run_aggregate(spark, config(second, ("data.columns.price=unit_price",)), "load-2")
    finally:
        logging.getLogger("samplegen").removeHandler(handler)
    out |= {"result": result, "log": handler.lines, "users_2": users()}
    tagged = [
        (r.session_id, None, r.price) for r in read_table(spark, lake, EVENTS_CLEAN).collect()
    ]
    tagged += [
        (r.session_id, r.reason, r.price)
        for r in read_table(spark, lake, EVENTS_QUARANTINE).collect()
    ]
    out["outcomes"] = tagged

    # A file of the table's current version: older versions' files stay on disk unvacuumed,
    # and losing one of those would rightly break nothing.
    live = spark.read.format("delta").load(str(Path(lake, "user_index"))).inputFiles()
    Path(urlparse(sorted(live)[0]).path).unlink()
    try:
        run_stages(
            spark, config(second, ("data.columns.price=unit_price",)), "load-3", ["aggregate"]
        )
    except DamagedStateError as err:
        out["damaged"] = str(err)
    return out


@pytest.mark.parametrize("case", DRIFT_CASES, ids=lambda c: c.name)
def test_drift_row_case(drift, case: DriftCase):
    outcomes: dict[str, int] = {}
    for session, reason, _ in drift["outcomes"]:
        if session == case.name:
            outcomes[reason or "clean"] = outcomes.get(reason or "clean", 0) + 1
    assert outcomes == case.expect
    assert sum(outcomes.values()) == len(case.rows), "input = clean + quarantined"


def test_second_load_reconciles_and_counts_new_event_types(drift):
    rows = drift["result"].rows
    assert rows["raw_events"] == rows["events_clean"] + rows["events_quarantine"]
    assert rows["raw_events"] == len(drift["outcomes"])
    assert rows["events_type_not_weighted"] == 2
    assert any("event_types_not_weighted wishlist=2" in line for line in drift["log"])


def test_new_column_is_logged(drift):
    assert any("event=columns_ignored" in line and "channel" in line for line in drift["log"])


def test_float_user_ids_keep_their_index(drift):
    first, second = drift["users_1"], drift["users_2"]
    assert first and {u: second.get(u) for u in first} == first
    assert not any(u.endswith(".0") for u in second)


def test_mapped_rename_lands_in_price(drift):
    prices = {p for s, reason, p in drift["outcomes"] if s == "renamed_column_mapped"}
    assert prices == {7.25}


@pytest.mark.parametrize("case", DRIFT_ERROR_CASES, ids=lambda c: c.name)
def test_drift_error_case(drift, case: DriftErrorCase):
    assert case.name in drift["errors"], f"{case.name} loaded without an error"
    assert re.search(case.error, drift["errors"][case.name]), drift["errors"][case.name]
    assert drift["raw_after_errors"] == drift["raw_1"], "a refused load wrote raw_events"


def test_a_lost_index_file_between_loads_names_it(drift):
    assert "damaged" in drift, "the third load did not stop on the lost user_index file"
    assert "/user_index/part-" in drift["damaged"]
    assert "aggregate.keep_indices=false" in drift["damaged"]
