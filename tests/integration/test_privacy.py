"""The privacy filter on hand-made users and CTR rows: planted copies (and near copies of
users) are dropped."""

import logging
from dataclasses import replace

import numpy as np
import pytest
from pyspark.sql import functions as F

from samplegen.evaluate.classifiers import feature_columns
from samplegen.generate import CTR_FEATURES, _rows_privacy_checked
from samplegen.generate.privacy import (
    closest_real_users,
    copied_rows,
    privacy_filter,
)
from tests.conftest import small_config

pytestmark = [pytest.mark.spark]

REAL = [(0, [1, 2, 3, 4, 5]), (1, [6, 7])]
SYNTHETIC = [
    ("copy", [5, 4, 3, 2, 1]),  # the same set as real user 0, in another order
    ("near", [1, 2, 3, 4, 5, 9]),  # Jaccard 5/6 with real user 0
    ("novel", [6, 10, 11]),  # Jaccard 1/4 with real user 1
    ("apart", [20]),  # shares no item with anyone
]


def frames(spark):
    real = spark.createDataFrame(REAL, "user_idx int, item_idx array<int>")
    synthetic = spark.createDataFrame(SYNTHETIC, "user_id string, item_idx array<int>")
    return synthetic, real


def test_similarities_are_exact(spark):
    synthetic, real = frames(spark)
    closest = closest_real_users(synthetic, real, threshold=0.0).collect()
    got = {r.user_id: (r.max_jaccard, r.is_copy) for r in closest}
    assert got == {
        "copy": (1.0, True),
        "near": (pytest.approx(5 / 6), False),
        "novel": (0.25, False),
        "apart": (0.0, False),
    }


def test_filter_drops_a_planted_copy_and_a_near_copy(spark):
    synthetic, real = frames(spark)
    kept, counts = privacy_filter(synthetic, real, max_jaccard=0.8)
    assert sorted(r.user_id for r in kept.collect()) == ["apart", "novel"]
    assert (counts.drawn, counts.dropped_copies, counts.dropped_similar) == (4, 1, 1)
    assert counts.kept == 2
    assert kept.columns == synthetic.columns


def test_a_copy_is_dropped_even_at_the_loosest_threshold(spark):
    synthetic, real = frames(spark)
    kept, counts = privacy_filter(synthetic, real, max_jaccard=1.0)
    assert sorted(r.user_id for r in kept.collect()) == ["apart", "near", "novel"]
    assert counts.dropped_copies == 1 and counts.dropped_similar == 0


@pytest.mark.parametrize("threshold", [0.3, 0.6, 0.8, 1.0])
def test_prefix_filtering_finds_every_pair_brute_force_finds(spark, threshold):
    rng = np.random.default_rng(int(threshold * 10))
    weights = 1.0 / np.arange(1, 41)
    weights /= weights.sum()  # Zipf-like popularity over 40 items

    def basket():
        size = int(rng.integers(1, 8))
        return sorted(int(i) for i in rng.choice(40, size, replace=False, p=weights))

    real = [(u, basket()) for u in range(120)]
    synthetic = [(f"s{n}", basket()) for n in range(80)]
    synthetic += [(f"c{n}", list(reversed(real[n][1]))) for n in range(5)]  # planted copies

    def jaccard(a, b):
        return len(set(a) & set(b)) / len(set(a) | set(b))

    expected = sorted(
        user for user, items in synthetic if max(jaccard(items, r) for _, r in real) <= threshold
        and not any(set(items) == set(r) for _, r in real)
    )  # fmt: skip
    kept, counts = privacy_filter(
        spark.createDataFrame(synthetic, "user_id string, item_idx array<int>"),
        spark.createDataFrame(real, "user_idx int, item_idx array<int>"),
        max_jaccard=threshold,
    )
    assert sorted(r.user_id for r in kept.collect()) == expected
    assert counts.dropped_copies >= 5


def _ctr_rows(spark, rows):
    """``synthetic_ctr``-shaped feature rows (no provenance), label first."""
    schema = (
        "label int, category string, department string, brand string, price double, "
        "user_events long, user_days_since_last double, item_users long, "
        "item_purchase_rate double"
    )
    return spark.createDataFrame(rows, schema)


def test_row_filter_drops_a_planted_copy_counted_and_logged(spark, tmp_path):
    real = _ctr_rows(spark, [
        (1, "milk", "dairy", None, 2.5, 10, 3.0, 40, 0.1),
        (0, "bread", "bakery", "b1", 1.0, 4, None, 12, 0.2),
    ])  # fmt: skip
    synthetic = _ctr_rows(spark, [
        (1, "milk", "dairy", None, 2.5, 10, 3.0, 40, 0.1),  # a copy, null brand and all
        (1, "bread", "bakery", "b1", 1.0, 4, None, 12, 0.2),  # a copy with another label
        (1, "milk", "dairy", "b9", 2.5, 10, 3.0, 40, 0.1),  # brand differs
        (0, "bread", "bakery", "b1", 1.0, 4, 0.0, 12, 0.2),  # a value where real has null
    ])  # fmt: skip
    categorical, numeric = feature_columns()  # the columns compared are those classifiers learn
    assert set(CTR_FEATURES) == {*categorical, *numeric}
    assert copied_rows(synthetic, real, CTR_FEATURES).count() == 2
    # The generate stage's check (row_privacy_filter against the real samples_ctr train rows
    # only): counts in the metrics and the log; generate.privacy_filter=false skips it, saying so.
    samples = real.withColumn("split", F.lit("train")).unionByName(
        synthetic.limit(1).withColumn("split", F.lit("test"))  # a test row is no reference
    )
    cfg = small_config(tmp_path)
    messages = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: messages.append(record.getMessage())
    log = logging.getLogger("samplegen.generate")
    log.addHandler(handler)
    try:
        kept, metrics = _rows_privacy_checked(synthetic, samples, cfg)
        off = replace(cfg, generate=replace(cfg.generate, privacy_filter=False))
        unchecked, off_metrics = _rows_privacy_checked(synthetic, samples, off)
    finally:
        log.removeHandler(handler)
    assert sorted(r.brand for r in kept.collect()) == ["b1", "b9"]
    assert kept.columns == synthetic.columns
    assert metrics == {
        "privacy_filter": "on", "privacy_drawn": 4, "privacy_dropped_copies": 2,
        "privacy_dropped_similar": 0, "privacy_kept": 2,
    }  # fmt: skip
    assert any("4 synthetic_ctr rows drawn, 2 exact copies" in m for m in messages)
    assert unchecked.count() == 4 and off_metrics == {"privacy_filter": "off"}
    assert any("synthetic_ctr rows are written without the check" in m for m in messages)
