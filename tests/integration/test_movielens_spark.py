from datetime import datetime

import pytest

from samplegen.config import DataConfig
from samplegen.data import sources
from samplegen.data.validate import split_clean_quarantine
from samplegen.tables import CATALOGUE, RAW_EVENTS

pytestmark = pytest.mark.spark


def test_movielens_events_pass_validation_untouched(spark):
    cfg = DataConfig(source="movielens100k", max_users=50)
    raw = sources.load_events(spark, cfg)
    assert raw.schema == RAW_EVENTS.schema
    clean, quarantine = split_clean_quarantine(raw, ["view", "purchase"])
    n_raw = raw.count()
    assert raw.select("user_id").distinct().count() == 50
    assert quarantine.count() == 0
    assert clean.count() == n_raw
    first = raw.where("user_id = '196' AND item_id = '242'").collect()
    assert first == []  # user 196 is not among the first 50 ids
    row = raw.where("user_id = '1' AND item_id = '1'").collect()[0]
    assert row.event_type == "purchase"  # rated 5
    assert row.event_time == datetime(1997, 9, 22, 22, 2, 38)  # 874965758 in UTC
    assert row.price is None and row.session_id is None and row.quantity == 1.0

    catalogue = sources.load_catalogue(spark, cfg)
    assert catalogue.schema == CATALOGUE.schema
    assert catalogue.count() == 1682
