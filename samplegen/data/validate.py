"""Split raw events into clean rows and quarantined rows, each rejected row with a reason.

Every input row lands in exactly one of the two outputs. Rules are checked in order and a row
carries the first rule it breaks; exact duplicates keep their first copy as clean.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from samplegen.tables import RAW_EVENTS_SCHEMA

EARLIEST_EVENT_TIME = "1990-01-01 00:00:00"
REQUIRED_COLUMNS = ("user_id", "item_id", "event_type", "event_time")


def _blank(column: str) -> Column:
    return F.col(column).isNull() | (F.trim(F.col(column)) == "")


def _reason(event_types: Iterable[str], now: datetime) -> Column:
    """The first rule a row breaks, or null when it breaks none (duplicates aside)."""
    latest = F.lit((now + timedelta(days=1)).replace(tzinfo=None)).cast("timestamp")
    rules: list[tuple[Column, str]] = [
        (_blank("user_id"), "null_or_empty_user_id"),
        (_blank("item_id"), "null_or_empty_item_id"),
        (
            ~F.col("event_type").isin(list(event_types)) | F.col("event_type").isNull(),
            "unknown_event_type",
        ),
        (F.col("event_time").isNull(), "null_event_time"),
        (
            (F.col("event_time") < F.lit(EARLIEST_EVENT_TIME).cast("timestamp"))
            | (F.col("event_time") > latest),
            "event_time_out_of_range",
        ),
        (F.isnan("quantity"), "nan_quantity"),
        (F.col("quantity") < 0, "negative_quantity"),
        (F.col("quantity") == 0, "zero_quantity"),
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


def split_clean_quarantine(
    raw: DataFrame, event_types: Iterable[str], now: datetime | None = None
) -> tuple[DataFrame, DataFrame]:
    """Return ``(clean, quarantine)``; quarantine has the raw columns plus ``reason``.

    ``now`` (UTC) bounds future timestamps; it is fixed once so that both outputs see the same
    cut-off and every row lands in exactly one of them.
    """
    now = now or datetime.now(UTC)
    columns = [f.name for f in RAW_EVENTS_SCHEMA.fields]
    tagged = raw.select(*columns).withColumn("reason", _reason(list(event_types), now))
    copy_number = F.row_number().over(Window.partitionBy(*columns).orderBy(F.lit(1)))
    tagged = tagged.withColumn(
        "reason",
        F.when(F.col("reason").isNull() & (copy_number > 1), F.lit("duplicate")).otherwise(
            F.col("reason")
        ),
    )
    clean = tagged.where(F.col("reason").isNull()).drop("reason")
    quarantine = tagged.where(F.col("reason").isNotNull())
    return clean, quarantine
