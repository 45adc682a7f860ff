"""Split raw events into clean rows and quarantined rows, each rejected row with a reason.

Every input row lands in exactly one of the two outputs. Rules are checked in order and a row
carries the first rule it breaks (see :data:`REASONS`). Of rows that are equal in every column,
the first copy is clean and the others are ``duplicate``; of rows that are equal in every column
but ``event_time`` (and pass every rule), a copy less than :data:`NEAR_DUPLICATE_SECONDS` after
the copy before it is a ``near_duplicate`` (a client or pipeline retry that re-stamped the same
event). Rows that differ in anything else, however little, are separate events.

An event type that is missing (null, empty) is ``unknown_event_type``; one that is present but
has no weight in ``aggregate.event_weights`` (a type the log started to send, or a spelling
``data.event_types`` does not map) is ``event_type_not_weighted``: the stage logs those types
with their counts (:func:`not_weighted_types`), so a new type is noticed and can be weighted or
mapped.

Ids are opaque: they are compared exactly (case, whitespace and Unicode form matter) and kept as
they are. A null, empty or whitespace-only id, or one that spells a missing value
(:data:`MISSING_ID_TEXTS`, e.g. ``NULL``), is quarantined as ``null_or_empty_*``. An id longer
than :data:`MAX_ID_LENGTH` characters is quarantined as ``*_id_too_long``: no real key is that
long, and such a value is nearly always a parsing error (e.g. a CSV quote left open).

Input-level problems stop with a ``ValueError`` instead: a missing required column
(:func:`check_columns`), no events at all (:func:`check_not_empty`), no event with a time
(:func:`check_has_times`), a catalogue with blank or repeated ids or that shares no item with
the events (:func:`check_catalogue`, :func:`check_catalogue_overlap`). Events of items a
catalogue lacks stay clean and are only counted (:func:`items_not_in_catalogue`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from samplegen.tables import RAW_EVENTS_SCHEMA

EARLIEST_EVENT_TIME = "1990-01-01 00:00:00"
REQUIRED_COLUMNS = ("user_id", "item_id", "event_type", "event_time")
MAX_ID_LENGTH = 256
NEAR_DUPLICATE_SECONDS = 1.0

#: Every quarantine reason, in the order the rules are checked.
REASONS = (
    "null_or_empty_user_id",
    "null_or_empty_item_id",
    "user_id_too_long",
    "item_id_too_long",
    "unknown_event_type",
    "event_type_not_weighted",
    "null_event_time",
    "event_time_out_of_range",
    "nan_quantity",
    "infinite_quantity",
    "negative_quantity",
    "zero_quantity",
    "nan_price",
    "infinite_price",
    "negative_price",
    "duplicate",
    "near_duplicate",
)


#: Id values that are a missing value written out as text by some exporter (compared trimmed and
#: case-insensitively). Kept, they would merge every broken row into one fake user or item.
MISSING_ID_TEXTS = ("null", "none", "nan", "n/a")


def _blank(column: str) -> Column:
    """Null, empty or white space only, or one of :data:`MISSING_ID_TEXTS` once trimmed."""
    # Java's \s with (?U): any Unicode white space (tab, no-break space, ...), not just " ".
    text = F.lower(F.regexp_replace(F.col(column), r"(?U)^\s+|\s+$", ""))
    return F.col(column).isNull() | (text == "") | text.isin(list(MISSING_ID_TEXTS))


def _infinite(column: str) -> Column:
    return F.abs(F.col(column)) == F.lit(float("inf"))


def _reason(event_types: Iterable[str], now: datetime) -> Column:
    """The first rule a row breaks, or null when it breaks none (duplicates aside)."""
    latest = F.lit((now + timedelta(days=1)).replace(tzinfo=None)).cast("timestamp")
    rules: list[tuple[Column, str]] = [
        (_blank("user_id"), "null_or_empty_user_id"),
        (_blank("item_id"), "null_or_empty_item_id"),
        (F.length("user_id") > MAX_ID_LENGTH, "user_id_too_long"),
        (F.length("item_id") > MAX_ID_LENGTH, "item_id_too_long"),
        (
            F.col("event_type").isNull() | (F.trim(F.col("event_type")) == ""),
            "unknown_event_type",
        ),
        (~F.col("event_type").isin(list(event_types)), "event_type_not_weighted"),
        (F.col("event_time").isNull(), "null_event_time"),
        (
            (F.col("event_time") < F.lit(EARLIEST_EVENT_TIME).cast("timestamp"))
            | (F.col("event_time") > latest),
            "event_time_out_of_range",
        ),
        (F.isnan("quantity"), "nan_quantity"),
        (_infinite("quantity"), "infinite_quantity"),
        (F.col("quantity") < 0, "negative_quantity"),
        (F.col("quantity") == 0, "zero_quantity"),
        # A null price means "unknown" and passes; a zero price (a free item) passes too.
        (F.isnan("price"), "nan_price"),
        (_infinite("price"), "infinite_price"),
        (F.col("price") < 0, "negative_price"),
    ]
    reason = F.lit(None).cast("string")
    for condition, name in reversed(rules):
        reason = F.when(condition, F.lit(name)).otherwise(reason)
    return reason


def check_columns(df: DataFrame, source: str) -> None:
    """Stop with a message naming any missing required column."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"{source}: required column(s) {', '.join(missing)} missing; "
            f"columns present: {', '.join(df.columns)}"
        )


def not_weighted_types(quarantine: DataFrame, limit: int = 20) -> dict[str, int]:
    """Event types quarantined as ``event_type_not_weighted``, most frequent first, with counts.

    One small Spark job over the quarantine; at most ``limit`` types.
    """
    rows = (
        quarantine.where(F.col("reason") == "event_type_not_weighted")
        .groupBy("event_type")
        .count()
        .orderBy(F.desc("count"), "event_type")
        .limit(limit)
        .collect()
    )
    return {r.event_type: int(r["count"]) for r in rows}


def check_columns_kept(previous: DataFrame | None, absent: list[str], source: str) -> None:
    """Stop when an optional column the previous load had values in is absent from this input.

    A column renamed upstream (``price`` -> ``unit_price``) would otherwise load as null in every
    row and silently drop a feature between two loads of one lakehouse. Required columns are
    checked when the input is read; this covers the optional ones (one Spark job over the
    previous ``raw_events``, only when a column is absent).

    Args:
        previous: the previous load's ``raw_events``, or None on a new lakehouse.
        absent: our optional columns this input does not have (``files.absent_columns``).
        source: the input, for the message.

    Raises:
        ValueError: naming each such column and its config key ``data.columns.<ours>``.
    """
    if previous is None or not absent:
        return
    counts = previous.agg(*[F.count(F.col(c)).alias(c) for c in absent]).first()
    lost = [c for c in absent if counts[c]]
    if lost:
        keys = ", ".join(f"data.columns.{c}" for c in lost)
        had = ", ".join(f"{c} ({counts[c]} values)" for c in lost)
        raise ValueError(
            f"column(s) {', '.join(lost)} of the previous load are missing from {source}; "
            f"the previous raw_events had {had}. If a column was renamed, map it with {keys} "
            "(e.g. --set data.columns.price=unit_price); if it is gone for good, move the "
            "lakehouse's raw_events table aside (or set aggregate.keep_indices=false)"
        )


def check_not_empty(raw: DataFrame, source: str) -> None:
    """Stop when there is no event at all (one small Spark job).

    An empty input is nearly always an upstream failure (an export that did not land), so a
    scheduled run stops before it replaces the stage-1 tables with empty ones.

    Raises:
        ValueError: ``raw`` has no rows; the message names ``source``.
    """
    if raw.isEmpty():
        raise ValueError(
            f"no events in {source}: the input is empty, so nothing was written; "
            "check that the export landed (or point the config at the right input)"
        )


def check_has_times(raw: DataFrame, source: str, column: str) -> None:
    """Stop when no event has an ``event_time`` (the column is empty or never parses).

    One small Spark job (it stops at the first event with a time), before anything is written:
    without a single time there is no split and no time-ordered ``sequences`` table for the
    sequential recommenders and sequence strategies, so the message names the config key that
    picks the column, not the quarantine counts every row would otherwise end up in.

    Raises:
        ValueError: naming ``data.columns.event_time`` and ``column`` (the input's name for it).
    """
    if raw.where(F.col("event_time").isNotNull()).isEmpty():
        raise ValueError(
            f"no event in {source} has an event_time: column {column!r} is empty or never "
            "parses as a time, and the split and the time-ordered sequences need one; point "
            "data.columns.event_time at the column with the event times"
        )


def split_clean_quarantine(
    raw: DataFrame, event_types: Iterable[str], now: datetime | None = None
) -> tuple[DataFrame, DataFrame]:
    """Return ``(clean, quarantine)``; quarantine has the raw columns plus ``reason``.

    ``now`` (UTC) bounds future timestamps; it is fixed once so that both outputs see the same
    cut-off and every row lands in exactly one of them.
    """
    return split_tagged(tag_events(raw, event_types, now))


def split_tagged(tagged: DataFrame) -> tuple[DataFrame, DataFrame]:
    """``(clean, quarantine)`` of :func:`tag_events` rows: no reason, or a reason."""
    clean = tagged.where(F.col("reason").isNull()).drop("reason")
    quarantine = tagged.where(F.col("reason").isNotNull())
    return clean, quarantine


def tag_events(
    raw: DataFrame, event_types: Iterable[str], now: datetime | None = None
) -> DataFrame:
    """The raw columns plus ``reason``: why a row is quarantined, null for a clean row.

    ``now`` (UTC) bounds future timestamps (default: the current time).
    """
    now = now or datetime.now(UTC)
    columns = [f.name for f in RAW_EVENTS_SCHEMA.fields]
    tagged = raw.select(*columns).withColumn("reason", _reason(list(event_types), now))
    # Copies are looked for among rows with the same rule outcome only, so a clean row is
    # never a (near) duplicate of a quarantined one. Null keys group together.
    same = [c for c in columns if c != "event_time"] + ["reason"]
    previous = F.lag("event_time").over(Window.partitionBy(*same).orderBy("event_time"))
    gap = F.unix_micros(F.col("event_time")) - F.unix_micros(previous)
    repeat = (
        F.when(gap == 0, F.lit("duplicate"))
        .when(gap < int(NEAR_DUPLICATE_SECONDS * 1_000_000), F.lit("near_duplicate"))
        .otherwise(F.lit(None).cast("string"))
    )
    return tagged.withColumn(
        "reason", F.when(F.col("reason").isNull(), repeat).otherwise(F.col("reason"))
    )


def check_catalogue(catalogue: DataFrame, source: str, required: bool) -> int:
    """Check the catalogue's ids (one Spark job); return its number of items.

    Args:
        catalogue: the catalogue (CATALOGUE schema).
        source: where it came from, for the messages (e.g. its path).
        required: a catalogue was configured, so an empty one is an error rather than "none".

    Raises:
        ValueError: a configured catalogue is empty, or an ``item_id`` is blank or repeated
            (a repeated id would give one item two rows in ``item_index``).
    """
    blank = _blank("item_id")
    n, n_blank, n_distinct = catalogue.agg(
        F.count(F.lit(1)),
        F.coalesce(F.sum(blank.cast("long")), F.lit(0)),
        F.countDistinct(F.when(~blank, F.col("item_id"))),
    ).first()
    if n == 0 and required:
        raise ValueError(
            f"the catalogue at {source} is empty; fix its export, or set "
            "data.catalogue_path=null to run without a catalogue"
        )
    if n_blank:
        raise ValueError(
            f"the catalogue at {source} has {n_blank} row(s) with a null or empty item_id "
            "(data.catalogue_columns.item_id)"
        )
    repeated = n - n_distinct
    if repeated:
        examples = catalogue.groupBy("item_id").count().where("count > 1").limit(3).collect()
        ids = ", ".join(repr(r.item_id) for r in examples)
        raise ValueError(
            f"the catalogue at {source} has {repeated} repeated item_id row(s) "
            f"(data.catalogue_columns.item_id), e.g. {ids}; keep one row per item"
        )
    return int(n)


def check_catalogue_overlap(raw: DataFrame, catalogue: DataFrame, source: str) -> None:
    """Stop when a (non-empty) catalogue shares no item with the events.

    One Spark job that ends at the first event whose item the catalogue has, so it is cheap
    unless it fails. Events of items a catalogue lacks are otherwise fine (see
    :func:`items_not_in_catalogue`); a catalogue that knows none of them is a mapping error.

    Raises:
        ValueError: no event's ``item_id`` is in the catalogue; the message shows a few of both.
    """
    ids = catalogue.select("item_id").distinct()
    if raw.join(F.broadcast(ids), "item_id", "left_semi").isEmpty():
        events = ", ".join(repr(r.item_id) for r in raw.select("item_id").limit(3).collect())
        known = ", ".join(repr(r.item_id) for r in ids.limit(3).collect())
        raise ValueError(
            f"no event's item_id is in the catalogue at {source} (events have {events}; the "
            f"catalogue has {known}); check data.columns.item_id and "
            "data.catalogue_columns.item_id (ids are compared exactly)"
        )


def items_not_in_catalogue(clean: DataFrame, catalogue: DataFrame) -> int:
    """Clean events whose item a (non-empty) catalogue lacks (one Spark job).

    Such events stay clean: catalogues lag behind sales (new, discontinued or seasonal items;
    the bundled Complete Journey catalogue lacks the items of 4,836 purchase lines, 32 of them
    with a positive quantity), so their interactions are real, only without category,
    department, brand and title.
    """
    ids = catalogue.select("item_id").distinct()
    return clean.join(F.broadcast(ids), "item_id", "left_anti").count()
