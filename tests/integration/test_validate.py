from datetime import datetime

import pytest

from samplegen.data.validate import check_columns, split_clean_quarantine
from samplegen.tables import RAW_EVENTS_SCHEMA

pytestmark = pytest.mark.spark

GOOD = ("u1", "i1", "purchase", datetime(2020, 5, 1), "s1", 1.0, 2.5, "st")
CASES = [
    (("", "i1", "purchase", datetime(2020, 5, 1), "s", 1.0, 1.0, "st"), "null_or_empty_user_id"),
    ((None, "i1", "purchase", datetime(2020, 5, 1), "s", 1.0, 1.0, "st"), "null_or_empty_user_id"),
    (("u2", "  ", "purchase", datetime(2020, 5, 1), "s", 1.0, 1.0, "st"), "null_or_empty_item_id"),
    (("u2", "i2", "refund", datetime(2020, 5, 1), "s", 1.0, 1.0, "st"), "event_type_not_weighted"),
    (("u2", "i2", None, datetime(2020, 5, 1), "s", 1.0, 1.0, "st"), "unknown_event_type"),
    (("u2", "i2", "purchase", None, "s", 1.0, 1.0, "st"), "null_event_time"),
    (
        ("u2", "i2", "purchase", datetime(1970, 1, 1), "s", 1.0, 1.0, "st"),
        "event_time_out_of_range",
    ),
    (
        ("u2", "i2", "purchase", datetime(2999, 1, 1), "s", 1.0, 1.0, "st"),
        "event_time_out_of_range",
    ),
    (("u2", "i2", "purchase", datetime(2020, 5, 1), "s", float("nan"), 1.0, "st"), "nan_quantity"),
    (("u2", "i2", "purchase", datetime(2020, 5, 1), "s", -2.0, 1.0, "st"), "negative_quantity"),
    (("u2", "i2", "purchase", datetime(2020, 5, 1), "s", 0.0, 1.0, "st"), "zero_quantity"),
]


def test_every_row_lands_once_with_its_reason(spark):
    rows = [GOOD, GOOD, GOOD] + [case for case, _ in CASES]
    raw = spark.createDataFrame(rows, schema=RAW_EVENTS_SCHEMA)
    clean, quarantine = split_clean_quarantine(raw, ["view", "purchase"])
    assert clean.count() == 1
    assert clean.count() + quarantine.count() == len(rows)
    reasons = sorted(r.reason for r in quarantine.collect())
    expected = sorted([reason for _, reason in CASES] + ["duplicate", "duplicate"])
    assert reasons == expected


def test_missing_required_column_is_named(spark):
    raw = spark.createDataFrame([("u", "i")], "user_id string, item_id string")
    with pytest.raises(ValueError, match="event_type, event_time"):
        check_columns(raw, source="events.csv")


def test_missing_table_names_the_table_and_what_to_do(spark, tmp_path):
    from samplegen.tables import EVAL_METRICS, read_table

    with pytest.raises(FileNotFoundError, match="'eval_metrics' not found.*run the stage"):
        read_table(spark, str(tmp_path / "lake"), EVAL_METRICS)
