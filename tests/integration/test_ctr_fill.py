"""generate.ctr_fill on hand-built samples_ctr rows: unmodelled columns of generated
synthetic_ctr rows come from one matching real train row (a donor), never from valid/test."""

import pytest
from pyspark.sql import functions as F

from samplegen.config import load_config
from samplegen.generate import CTR_FEATURES
from samplegen.generate.ctr_fill import fill_from_donors, fill_unmodelled, key_levels
from samplegen.generate.privacy import copied_rows

pytestmark = [pytest.mark.spark]

MODELLED = [
    "train.tabular.discrete_columns=[category, label]",
    "train.tabular.continuous_columns=[user_events, item_users, item_purchase_rate, "
    "user_days_since_last]",
]
FILLED = ["department", "brand", "price"]
SAMPLES = (
    "split string, label int, category string, department string, brand string, price double, "
    "user_events long, user_days_since_last double, item_users long, item_purchase_rate double"
)
ROWS = (
    "row long, label int, category string, department string, brand string, price double, "
    "user_events long, user_days_since_last double, item_users long, item_purchase_rate double"
)


def _sample_rows():
    """Train donors per (category, label) with values naming their group; poisoned others."""
    rows = [
        ("train", label, cat, f"d-{cat}{label}", f"b{i}-{cat}{label}", float(10 * label + i),
         5, 1.0, 7, 0.5)
        for cat in ("a", "b") for label in (0, 1) for i in range(4)
    ]  # fmt: skip
    rows.append(("train", 1, "solo", "d-solo", "b-solo", 3.0, 2, 2.0, 2, 0.2))  # one donor
    rows += [("train", label, None, f"d-none{label}", "b-none", 4.0, 2, 2.0, 2, 0.2)
             for label in (0, 1)]  # a null category is a key value like any other  # fmt: skip
    for split in ("valid", "test"):  # same keys as train rows: must never be copied
        rows += [(split, label, cat, "POISON", "POISON", -1.0, 5, 1.0, 7, 0.5)
                 for cat in ("a", "b", "solo", "zzz") for label in (0, 1)]  # fmt: skip
    return rows


def _samples(spark):
    return spark.createDataFrame(_sample_rows(), SAMPLES)


def _generated(spark, n=200):
    """Generated rows: unmodelled columns null; a few keys no train row has."""
    cats = ["a", "b", None]
    rows = [(r, r % 2, cats[r % 3], None, None, None, r, 0.5, 3, 0.1) for r in range(n)]
    rows.append((n, 0, "zzz", None, None, None, 1, 0.5, 3, 0.1))  # category unseen: label only
    rows.append((n + 1, 7, "a", None, None, None, 1, 0.5, 3, 0.1))  # label unseen: any row
    rows.append((n + 2, 1, "solo", None, None, None, 2, 2.0, 2, 0.2))  # becomes a real copy
    return spark.createDataFrame(rows, ROWS)


def _groups():
    """(category, label) -> set of (department, brand, price) of the train rows."""
    groups: dict = {}
    for split, label, category, department, brand, price, *_ in _sample_rows():
        if split == "train":
            groups.setdefault((category, label), set()).add((department, brand, price))
    return groups


def test_donors_match_the_key_fall_back_counted_and_do_not_depend_on_partitioning(spark):
    samples, generated = _samples(spark), _generated(spark)
    cfg = load_config(None, MODELLED)
    assert cfg.generate.ctr_fill == "donor"
    filled, metrics = fill_unmodelled(generated, samples, cfg, CTR_FEATURES)
    assert filled.columns == generated.columns
    assert filled.count() == 203  # none lost, none duplicated
    got = {r.row: r for r in filled.collect()}
    assert len(got) == 203
    groups = _groups()
    train_values = set().union(*groups.values())
    for r in got.values():
        values = (r.department, r.brand, r.price)
        assert "POISON" not in values[:2] and values[2] != -1.0  # only train rows donate
        if r.row < 200 or r.category == "solo":
            assert values in groups[(r.category, r.label)]
        else:
            assert values in train_values
        assert r.user_events is not None  # modelled columns kept
    label_only = got[200]
    assert label_only.category == "zzz" and label_only.department.endswith("0")  # a label-0 row
    # Ranks spread over a group's donors (200 rows over groups of 4 train rows: all used).
    used = {(r.category, r.label, r.brand) for r in got.values() if r.row < 200 and r.category}
    assert len(used) == 16
    assert metrics == {
        "ctr_fill": "donor",
        "ctr_fill/columns": FILLED,
        "ctr_fill/key": ["label", "category"],
        "ctr_fill/rows": 203,
        "ctr_fill/fallback_rows": 2,
        "ctr_fill/fallback_label": 1,
        "ctr_fill/fallback_any": 1,
    }
    # The solo row copies its only donor on every feature column: a copy, which the privacy
    # filter (after the fill in run_generate) drops.
    train = samples.where(F.col("split") == "train")
    assert [r.row for r in copied_rows(filled, train, CTR_FEATURES).collect()] == [202]
    # The same donors however rows and donors are partitioned.
    again, _ = fill_from_donors(
        generated.repartition(5),
        train.repartition(3),
        ["category", "label"],
        FILLED,
        cfg.generate.seed,
    )
    assert sorted(map(tuple, again.collect())) == sorted(map(tuple, got.values()))


def test_ctr_fill_none_leaves_them_null_and_levels_are_label_first(spark):
    generated = _generated(spark, n=6)
    cfg = load_config(None, [*MODELLED, "generate.ctr_fill=none"])
    kept, metrics = fill_unmodelled(generated, _samples(spark), cfg, CTR_FEATURES)
    assert kept is generated
    assert metrics == {"ctr_fill": "none", "ctr_fill/columns": FILLED}
    assert key_levels(["category", "label"]) == [("label", "category"), ("label",), ()]
    assert key_levels(["label"]) == [("label",), ()]
