"""The privacy filter on hand-made users: planted copies and near copies are dropped."""

import numpy as np
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
