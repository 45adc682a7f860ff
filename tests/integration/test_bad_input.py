"""Every case of the bad-input corpus (tests/corpus/bad_input.py) through real ingestion.

Row cases are batched: all CSV cases form one log and all typed cases one Parquet log, each
ingested once by ``ingest_events`` into Delta tables under a temporary lakehouse; the outcome of
every case is then read back from ``raw_events``, ``events_clean`` and ``events_quarantine``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from samplegen.config import ConfigError, load_config
from samplegen.data.validate import MISSING_ID_TEXTS, REASONS
from samplegen.features import ingest_events
from samplegen.tables import (
    EVENTS_CLEAN,
    EVENTS_QUARANTINE,
    RAW_EVENTS,
    RAW_EVENTS_SCHEMA,
    read_table,
)
from tests.corpus.bad_input import (
    ARGUMENT_CASES,
    CONFIG_CASES,
    CSV_CASES,
    CSV_LOG_COLUMNS,
    FILE_CASES,
    LOG_SHAPE_CASES,
    TYPED_CASES,
    TYPED_LOG_COLUMNS,
    ArgumentCase,
    ConfigCase,
    FileCase,
    RowCase,
)

pytestmark = pytest.mark.spark

ARROW_TYPES = {
    "string": pa.string(),
    "int64": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "list<string>": pa.list_(pa.string()),
}


def csv_text(header: tuple[str, ...], rows: list[tuple]) -> str:
    """RFC 4180 CSV: every value quoted (quotes doubled), ``None`` as an empty field."""

    def field(value) -> str:
        return "" if value is None else '"' + str(value).replace('"', '""') + '"'

    return "".join(",".join(map(field, row)) + "\n" for row in [header, *rows])


def write_input(root: Path, name: str, spec: tuple[str, object]) -> tuple[str, str]:
    """Write a case's ``(format, content)`` under ``root``; return ``(path, format)``."""
    fmt, content = spec
    path = root / name
    if content == "missing":
        return str(path), fmt
    if fmt == "csv":
        path.write_text(content if isinstance(content, str) else csv_text(*content))
    elif content is None:  # an empty folder
        path.mkdir()
    else:
        table = pa.table(
            {c: pa.array(values, ARROW_TYPES[kind]) for c, (kind, values) in content.items()}
        )
        pq.write_table(table, path)
    return str(path), fmt


def ingest_config(root: Path, events: tuple[str, str], catalogue=None, **data):
    overrides = {
        "source": "files",
        "events_path": events[0],
        "events_format": events[1],
        **data,
    }
    if catalogue:
        overrides |= {"catalogue_path": catalogue[0], "catalogue_format": catalogue[1]}
    return load_config(
        None,
        [f"lakehouse={json.dumps(str(root / 'lakehouse'))}"]
        + [f"data.{key}={json.dumps(value)}" for key, value in overrides.items()],
    )


@dataclass
class Landed:
    """One log after ingestion: the stage's row counts and, per case, rows per outcome."""

    rows: dict[str, int]
    outcomes: dict[str, dict[str, int]]  # case -> {"raw" | "clean" | reason: rows}
    clean: dict[str, list]  # case -> its clean rows
    raw_columns: list[str]


def land(spark, root: Path, events, catalogue=None) -> Landed:
    cfg = ingest_config(root, events, catalogue)
    rows = ingest_events(spark, cfg)
    lake = cfg.lakehouse
    raw = read_table(spark, lake, RAW_EVENTS)
    # event_time stays in Spark: a quarantined time in the year 56,000 has no Python datetime.
    columns = [c for c in RAW_EVENTS_SCHEMA.fieldNames() if c != "event_time"]
    # One small job for all three tables: every row with its outcome ("raw", "clean", a reason).
    tagged = (
        raw.select(*columns, F.lit("raw").alias("outcome"))
        .unionByName(
            read_table(spark, lake, EVENTS_CLEAN).select(*columns, F.lit("clean").alias("outcome"))
        )
        .unionByName(
            read_table(spark, lake, EVENTS_QUARANTINE).select(
                *columns, F.col("reason").alias("outcome")
            )
        )
        .collect()
    )
    outcomes: dict[str, dict[str, int]] = {}
    kept: dict[str, list] = {}
    for r in tagged:
        counts = outcomes.setdefault(r.session_id, {})
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
        if r.outcome == "clean":
            kept.setdefault(r.session_id, []).append(r)
    return Landed(rows, outcomes, kept, raw.columns)


def is_id(value) -> bool:
    return bool(value and value.strip()) and value.strip().lower() not in MISSING_ID_TEXTS


@pytest.fixture(scope="module")
def csv_log(spark, tmp_path_factory) -> Landed:
    root = tmp_path_factory.mktemp("csv_log")
    log = [
        (u, i, t, time, case.name, q, p, "web")
        for case in CSV_CASES
        for u, i, t, time, q, p in case.rows
    ]
    items = sorted({r[1] for c in CSV_CASES if c.in_catalogue for r in c.rows if is_id(r[1])})
    catalogue = [(item, "cat") for item in items]
    return land(
        spark,
        root,
        write_input(root, "events.csv", ("csv", (CSV_LOG_COLUMNS, log))),
        write_input(root, "catalogue.csv", ("csv", (("item_id", "category"), catalogue))),
    )


def typed_input(root: Path) -> tuple[str, str]:
    """Every typed case's rows in one parquet file under ``root``."""
    log = [
        (u, i, t, time, case.name, q, p, "web")
        for case in TYPED_CASES
        for u, i, t, time, q, p in case.rows
    ]
    content = {
        name: (kind, [row[n] for row in log]) for n, (name, kind) in enumerate(TYPED_LOG_COLUMNS)
    }
    return write_input(root, "events.parquet", ("parquet", content))


@pytest.fixture(scope="module")
def typed_log(spark, tmp_path_factory) -> Landed:
    root = tmp_path_factory.mktemp("typed_log")
    return land(spark, root, typed_input(root))


def check_row_case(landed: Landed, case: RowCase) -> None:
    assert set(case.expect) <= {"clean", *REASONS}, "the corpus names an unknown reason"
    outcomes = dict(landed.outcomes.get(case.name, {}))
    raw = outcomes.pop("raw", 0)
    assert raw == len(case.rows), "raw_events must hold every input row once"
    assert outcomes == case.expect
    assert sum(outcomes.values()) == raw, "input = clean + quarantined"


@pytest.mark.parametrize("case", CSV_CASES, ids=lambda c: c.name)
def test_csv_row_case(csv_log, case):
    check_row_case(csv_log, case)


@pytest.mark.parametrize("case", TYPED_CASES, ids=lambda c: c.name)
def test_typed_row_case(typed_log, case):
    check_row_case(typed_log, case)


@pytest.mark.parametrize("log", ["csv_log", "typed_log"])
def test_whole_log_reconciles(request, log):
    landed = request.getfixturevalue(log)
    cases = CSV_CASES if log == "csv_log" else TYPED_CASES
    n = sum(len(c.rows) for c in cases)
    assert landed.rows["raw_events"] == n
    assert landed.rows["events_clean"] + landed.rows["events_quarantine"] == n
    assert set(landed.outcomes) == {c.name for c in cases}


def test_without_raw_events_each_row_lands_once_where_it_did_with_them(spark, typed_log, tmp_path):
    """``aggregate.raw_events=false``: an empty ``raw_events``, the same counts and outcomes."""
    cfg = ingest_config(tmp_path, typed_input(tmp_path))
    cfg = dataclasses.replace(cfg, aggregate=dataclasses.replace(cfg.aggregate, raw_events=False))
    assert ingest_events(spark, cfg) == typed_log.rows
    lake = cfg.lakehouse
    assert read_table(spark, lake, RAW_EVENTS).count() == 0
    landed = (
        read_table(spark, lake, EVENTS_CLEAN)
        .select("session_id", F.lit("clean").alias("outcome"))
        .unionByName(
            read_table(spark, lake, EVENTS_QUARANTINE).select(
                "session_id", F.col("reason").alias("outcome")
            )
        )
        .groupBy("session_id", "outcome")
        .count()
        .collect()
    )
    outcomes: dict[str, dict[str, int]] = {}
    for r in landed:
        outcomes.setdefault(r.session_id, {})[r.outcome] = r["count"]
    expected = {
        case: {k: n for k, n in counts.items() if k != "raw"}
        for case, counts in typed_log.outcomes.items()
    }
    assert outcomes == expected

    # The next load still notices a renamed optional column, from the clean/quarantined rows.
    log = pq.read_table(typed_input(tmp_path)[0])
    renamed = log.rename_columns(["unit_price" if c == "price" else c for c in log.column_names])
    pq.write_table(renamed, tmp_path / "renamed.parquet")
    again = ingest_config(tmp_path, (str(tmp_path / "renamed.parquet"), "parquet"))
    with pytest.raises(ValueError, match=r"previous raw_events had price \(\d+ values\)"):
        ingest_events(spark, again)


def test_items_absent_from_the_catalogue_are_counted(csv_log, typed_log):
    absent = sum(c.expect.get("clean", 0) for c in CSV_CASES if not c.in_catalogue)
    assert csv_log.rows["events_item_not_in_catalogue"] == absent > 0
    assert "events_item_not_in_catalogue" not in typed_log.rows  # no catalogue configured


def test_log_shape_cases(csv_log):
    assert set(LOG_SHAPE_CASES) == {"extra_column", "missing_optional_column"}
    assert csv_log.raw_columns == RAW_EVENTS_SCHEMA.fieldNames()  # channel dropped
    kept = [r for rows in csv_log.clean.values() for r in rows]
    assert len(kept) == csv_log.rows["events_clean"]
    assert all(r.store_id is None for r in kept)


def test_ids_round_trip_exactly(csv_log, typed_log):
    for name in ("unicode_ids", "ids_differing_in_case_or_whitespace", "very_long_ids"):
        case = next(c for c in CSV_CASES if c.name == name)
        kept = {(r.user_id, r.item_id) for r in csv_log.clean[name]}
        written = {(u, i) for u, i, *_ in case.rows}
        assert kept <= written and len(kept) == case.expect["clean"]
    assert {r.user_id for r in csv_log.clean["unicode_ids"]} >= {"caf\u00e9", "cafe\u0301"}
    assert {r.user_id for r in typed_log.clean["numeric_ids_and_unix_seconds"]} == {"42", "43"}


@pytest.mark.parametrize("case", FILE_CASES, ids=lambda c: c.name)
def test_file_case(spark, tmp_path, case: FileCase):
    suffix = "" if case.events[1] in ("missing", None) else f".{case.events[0]}"
    events = write_input(tmp_path, case.name + suffix, case.events)
    catalogue = case.catalogue and write_input(
        tmp_path,
        "missing_catalogue" if case.catalogue[1] == "missing" else "cat.csv",
        case.catalogue,
    )
    cfg = ingest_config(tmp_path, events, catalogue, **case.data)
    with pytest.raises(case.exception, match=case.error):
        ingest_events(spark, cfg)
    assert Path(cfg.lakehouse).exists() == case.writes_tables
    if case.writes_tables:  # what was written still reconciles
        raw = read_table(spark, cfg.lakehouse, RAW_EVENTS).count()
        quarantined = read_table(spark, cfg.lakehouse, EVENTS_QUARANTINE).count()
        assert raw == quarantined > 0


@pytest.mark.parametrize("case", CONFIG_CASES, ids=lambda c: c.name)
def test_config_case(tmp_path, case: ConfigCase):
    path = tmp_path / "bad.yaml"
    path.write_text(case.yaml)
    with pytest.raises(ConfigError, match=case.error):
        load_config(path)


@pytest.mark.parametrize("case", ARGUMENT_CASES, ids=lambda c: c.name)
def test_argument_case(monkeypatch, capsys, case: ArgumentCase):
    import samplegen.spark
    from samplegen.cli import main

    def no_spark(*args, **kwargs):
        raise AssertionError(f"{case.name}: a Spark session was started")

    monkeypatch.setattr(samplegen.spark, "get_spark", no_spark)
    command, *rest = case.argv
    conf = str(Path(__file__).resolve().parents[2] / "conf" / "local.yaml")
    assert main([command, "--conf", conf, *rest]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, lines
    assert re.search(case.error, lines[0]), lines[0]
    assert captured.out == ""
