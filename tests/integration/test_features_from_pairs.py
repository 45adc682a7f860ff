"""Stage-1 features and CTR rows summed over (user, item, split) pairs equal pandas over the events.

``user_features``, ``item_features``, the real ``samples_ctr`` rows and the new-item pairs are
computed from :func:`user_item_pairs` instead of a pass over the events each; these tests
compute every figure independently with pandas from the same random events (prices partly
null, sessions that span items, items in several splits, users and items outside the index)
and compare.
"""

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from samplegen.features.interactions import new_item_pairs, user_item_pairs, weighted_events
from samplegen.features.tabular import ctr_interactions, item_features, user_features

pytestmark = [pytest.mark.spark]

T0 = datetime(2026, 1, 1)
CUT = T0 + timedelta(days=20)
TEST_FROM = T0 + timedelta(days=25)
WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}
NEW_ITEMS = [f"i{i}" for i in range(25, 30)]


def random_events(seed: int = 3, n: int = 1_500) -> pd.DataFrame:
    """Events of 40 users on 30 items over 30 days; a third of the prices, 5% of sessions null."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 40, n)
    times = [T0 + timedelta(seconds=int(s)) for s in rng.integers(0, 30 * 86_400, n)]
    prices = np.round(rng.uniform(0.5, 9.5, n), 2).astype(object)
    prices[rng.random(n) < 0.33] = None
    sessions = np.array([f"s{u}-{k}" for u, k in zip(users, rng.integers(0, 6, n), strict=True)])
    sessions = np.where(rng.random(n) < 0.05, None, sessions)
    return pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in users],
            "item_id": [f"i{i}" for i in rng.integers(0, 30, n)],
            "event_type": rng.choice(list(WEIGHTS), n, p=[0.6, 0.2, 0.2]),
            "event_time": times,
            "session_id": sessions,
            "price": prices,
        }
    ).assign(
        split=lambda d: np.where(
            d.event_time < CUT, "train", np.where(d.event_time < TEST_FROM, "valid", "test")
        )
    )


@pytest.fixture(scope="module")
def frames(spark):
    """(pandas events, Spark events, pairs, users, items, catalogue) with indices on subsets."""
    log = random_events()
    log = log[~((log.split == "train") & log.item_id.isin(NEW_ITEMS))]  # first seen later
    log = log[log.user_id != "u0"]  # u0: train events on uncategorised items only, no price
    only = [
        ("u0", "i16", "view", T0, "s0-0", None, "train"),
        ("u0", "i17", "cart", T0, "s0-1", None, "train"),
    ]
    log = pd.concat([log, pd.DataFrame(only, columns=log.columns)], ignore_index=True)
    schema = (
        "user_id string, item_id string, event_type string, event_time timestamp, "
        "session_id string, price double, split string"
    )
    events = weighted_events(spark.createDataFrame(log, schema), WEIGHTS)
    pairs = user_item_pairs(events).cache()
    # Users u0-u29 indexed (in reverse), items i0-i19 (i15-i19 without a category).
    users = spark.createDataFrame(
        [(f"u{u}", 29 - u) for u in range(30)], "user_id string, user_idx int"
    )
    items = spark.createDataFrame(
        [(f"i{i}", i, f"c{i % 4}" if i < 15 else None) for i in range(20)],
        "item_id string, item_idx int, category string",
    )
    # A catalogue with the indexed items and the new ones (i20-i24 are in neither).
    catalogue = spark.createDataFrame(
        [(f"i{i}", f"c{i % 4}", "d", "b", f"t{i}") for i in [*range(20), *range(25, 30)]],
        "item_id string, category string, department string, brand string, title string",
    )
    log = log.assign(
        user_idx=log.user_id.map({f"u{u}": 29 - u for u in range(30)}),
        item_idx=log.item_id.map({f"i{i}": i for i in range(20)}),
        category=log.item_id.map({f"i{i}": f"c{i % 4}" for i in range(15)}),
        purchase=(log.event_type == "purchase").astype(int),
        price=log.price.astype(float),
    )
    yield log, events, pairs, users, items, catalogue
    pairs.unpersist()


def test_user_features_equal_pandas_over_the_events(frames):
    log, events, pairs, users, items, _ = frames
    got = user_features(pairs, events, users, items, CUT.isoformat()).toPandas()
    train = log[(log.split == "train") & log.user_idx.notna() & log.item_idx.notna()]
    per_user = train.groupby("user_id")
    top = (
        train.dropna(subset=["category"])
        .groupby(["user_id", "category"])
        .size()
        .reset_index(name="n")
        .sort_values(["user_id", "n", "category"], ascending=[True, False, True])
        .drop_duplicates("user_id")
        .set_index("user_id")["category"]
    )
    want = pd.DataFrame(
        {
            "n_events": per_user.size(),
            "n_items": per_user.item_id.nunique(),
            "n_purchases": per_user.purchase.sum(),
            "n_sessions": per_user.session_id.nunique(),
            "first_event_time": per_user.event_time.min(),
            "last_event_time": per_user.event_time.max(),
            "mean_price": per_user.price.mean(),
            "category_count": per_user.category.nunique(),
        }
    ).assign(top_category=top)
    got = got.set_index("user_id").sort_index()
    want = want.sort_index()
    assert list(got.index) == list(want.index) and len(got) == 30
    for column in ("n_events", "n_items", "n_purchases", "n_sessions", "category_count"):
        assert got[column].tolist() == want[column].tolist(), column
    for column in ("first_event_time", "last_event_time"):
        assert got[column].tolist() == want[column].tolist(), column
    assert np.allclose(got.mean_price, want.mean_price, rtol=1e-12, equal_nan=True)
    assert got.top_category.fillna("-").tolist() == want.top_category.fillna("-").tolist()
    assert got.loc["u0", "category_count"] == 0 and got.loc["u0", "top_category"] is None
    assert np.isnan(got.loc["u0", "mean_price"]) and got.loc["u0", "n_sessions"] == 2
    days = (CUT - want.last_event_time).dt.total_seconds() / 86_400
    assert np.allclose(got.days_since_last, days)


def test_item_features_equal_pandas_over_the_events(frames):
    log, _, pairs, _, items, catalogue = frames
    got = item_features(pairs, items, catalogue).toPandas().set_index("item_id").sort_index()
    train = log[(log.split == "train") & log.item_idx.notna()]  # every user, indexed or not
    per_item = train.groupby("item_id")
    want = pd.DataFrame(
        {
            "n_users": per_item.user_id.nunique(),
            "n_events": per_item.size(),
            "n_purchases": per_item.purchase.sum(),
            "mean_price": per_item.price.mean(),
            "min_price": per_item.price.min(),
            "max_price": per_item.price.max(),
            "first_event_time": per_item.event_time.min(),
        }
    ).sort_index()
    assert list(got.index) == list(want.index) and len(got) == 20
    for column in ("n_users", "n_events", "n_purchases", "first_event_time"):
        assert got[column].tolist() == want[column].tolist(), column
    for column in ("mean_price", "min_price", "max_price"):
        assert np.allclose(got[column], want[column], rtol=1e-12, equal_nan=True), column
    assert np.allclose(got.purchase_rate, want.n_purchases / want.n_events)


def test_real_ctr_rows_equal_pandas_over_the_events(frames):
    log, _, pairs, users, items, _ = frames
    got = ctr_interactions(pairs, users, items).toPandas()
    indexed = log[log.user_idx.notna() & log.item_idx.notna()]
    want = (
        indexed.groupby(["user_id", "item_id", "split"])
        .agg(label=("purchase", "max"), event_time=("event_time", "max"))
        .reset_index()
    )
    key = ["user_id", "item_id", "split"]
    got = got.sort_values(key).reset_index(drop=True)
    want = want.sort_values(key).reset_index(drop=True)
    assert len(got) == len(want) > 100
    assert got[key].equals(want[key])
    assert got.label.tolist() == want.label.tolist() and got.label.sum() > 0
    assert got.event_time.tolist() == want.event_time.tolist()
    assert set(got.source) == {"interaction"}


@pytest.mark.parametrize("split", ["valid", "test"])
def test_new_item_pairs_equal_pandas_over_the_events(frames, split):
    log, _, pairs, users, _, catalogue = frames
    seen = set(log[log.split == "train"].item_id)
    got = sorted(tuple(r) for r in new_item_pairs(pairs, catalogue, users, split).collect())
    in_catalogue = {f"i{i}" for i in [*range(20), *range(25, 30)]}
    rows = log[(log.split == split) & log.user_idx.notna()]
    want = sorted(
        {
            (int(u), i)
            for u, i in zip(rows.user_idx, rows.item_id, strict=True)
            if i in in_catalogue and i not in seen
        }
    )
    assert got == want and len(want) > 5  # a list: no pair twice
