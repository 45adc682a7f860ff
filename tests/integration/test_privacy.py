"""The privacy filter on hand-made users: planted copies and near copies are dropped."""

import pytest

from samplegen.generate.privacy import closest_real_users, privacy_filter

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
    closest = closest_real_users(synthetic, real).collect()
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
