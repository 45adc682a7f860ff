"""The ``segment_balance`` strategy on the shared pipeline's ``samples_ctr`` (issue 22).

One barely trained tabular model (four steps in this process, ``category`` among the
discrete columns) for the module, and one run for two of the three segments.
"""

from dataclasses import replace

import pandas as pd
import pytest
from pyspark.sql import functions as F

from samplegen.evaluate import _ctr_strategy
from samplegen.generate import run_generate
from samplegen.generate.segment_balance import segment_balance
from samplegen.models.store import model_dir
from samplegen.models.tabular import TabularGAN
from samplegen.segments import COLD_ITEM_QUANTILE, COLD_USER_QUANTILE, RARE_CATEGORY_QUANTILE
from samplegen.tables import SAMPLES_CTR, SYNTHETIC_CTR, read_table
from samplegen.train.loop import fit_frame

pytestmark = [pytest.mark.spark, pytest.mark.slow]

RUN = "segment-balance-run"
SEGMENTS = ["cold_users", "rare_categories"]  # cold_items is not asked for: no rows of its own
SMALL = {"generator_dims": [32], "critic_dims": [32], "embedding_dim": 16}


@pytest.fixture(scope="module")
def segment_run(spark, cfg, pipeline_run, tmp_path_factory):
    """A barely trained tabular model of the train rows (in this process), and one run."""
    tabular = replace(
        cfg.train.tabular, discrete_columns=["category", "department", "brand", "label"]
    )
    run_cfg = replace(
        cfg,
        models_root=str(tmp_path_factory.mktemp("segment-models")),
        train=replace(cfg.train, model="tabular", tabular=tabular),
        generate=replace(cfg.generate, strategy="segment_balance", segments=SEGMENTS),
    )
    columns = [*tabular.discrete_columns, *tabular.continuous_columns]
    train = read_table(spark, cfg.lakehouse, SAMPLES_CTR).where(F.col("split") == "train")
    frame = train.select(*columns).toPandas()
    model = TabularGAN.from_frame(frame, tabular.discrete_columns, SMALL, seed=0)
    fit_frame(model, frame.sample(2000, random_state=0), epochs=1, batch_size=500)
    folder = str(model_dir(run_cfg, RUN))
    model.save(folder)
    result = run_generate(spark, run_cfg, RUN)
    rows = read_table(spark, cfg.lakehouse, SYNTHETIC_CTR).where(F.col("run_id") == RUN)
    return run_cfg, folder, result, rows.toPandas().sort_values("row").reset_index(drop=True)


def _real_segments(train: pd.DataFrame) -> tuple[dict[str, pd.Series], dict[str, float]]:
    """Membership masks of the train rows and the cuts, recomputed with pandas' quantiles."""

    def lower(values: pd.Series, q: float) -> float:
        return values.quantile(q, interpolation="lower")

    per_category = train["category"].value_counts()
    cuts = {
        "user_events": lower(
            train.drop_duplicates("user_idx")["user_events"].dropna(), COLD_USER_QUANTILE
        ),
        "item_users": lower(
            train.drop_duplicates("item_idx")["item_users"].dropna(), COLD_ITEM_QUANTILE
        ),
    }
    rare = per_category[per_category <= lower(per_category, RARE_CATEGORY_QUANTILE)].index
    masks = {
        "cold_users": train["user_events"] <= cuts["user_events"],
        "cold_items": train["item_users"] <= cuts["item_users"],
        "rare_categories": train["category"].isin(rare),
    }
    return masks, cuts | {"rare": set(rare)}


def test_rows_fall_in_their_segment_with_its_real_label_mix(spark, cfg, segment_run):
    _, _, result, rows = segment_run
    samples = read_table(spark, cfg.lakehouse, SAMPLES_CTR).where(F.col("split") == "train")
    train = samples.toPandas()
    masks, cuts = _real_segments(train)
    m = result.metrics
    assert not [key for key in m if key.startswith("cold_items")]
    assert (m["segment_user_cut"], m["segment_item_cut"]) == (
        cuts["user_events"],
        cuts["item_users"],
    )
    assert m["rare_categories"] == len(cuts["rare"])
    assert set(rows["strategy"]) == {"segment_balance"} and set(rows["model"]) == {"tabular"}
    assert rows["row"].is_unique and len(rows) == result.rows["synthetic_ctr"] > 0
    first = 0
    for name in SEGMENTS:
        real = masks[name]
        assert m[f"{name}/real_rows"] == real.sum() > 0
        planned = m[f"{name}/rows_needed"]
        drawn = rows[rows["row"].between(first, first + planned - 1)]
        first += planned
        assert len(drawn) == m[f"{name}/rows"] == planned - m[f"{name}/shortfall"]
        if planned == 0:
            assert real.mean() >= 0.2
            continue
        # Rows only in their segment, labelled as the segment's real rows are.
        if name == "rare_categories":
            assert drawn["category"].isin(cuts["rare"]).all()
        else:
            column = "user_events" if name == "cold_users" else "item_users"
            assert (drawn[column] <= cuts[column]).all()
        real_positive = train.loc[real, "label"].mean()
        short = m[f"{name}/shortfall"]  # the plan's mix, less any rows rejection missed
        assert abs(drawn["label"].mean() - real_positive) <= (1 + short) / len(drawn) + 1e-9
        assert m[f"{name}/achieved_share"] >= 0.2 or m[f"{name}/shortfall"] > 0


def test_rows_do_not_depend_on_partitioning_and_evaluate_takes_the_ctr_path(
    spark, cfg, segment_run
):
    run_cfg, model, _, rows = segment_run
    samples = read_table(spark, cfg.lakehouse, SAMPLES_CTR)
    again, _ = segment_balance(
        spark, samples, model, SEGMENTS, 0.2, cfg.generate.seed, partitions=3
    )
    again = again.toPandas().sort_values("row").reset_index(drop=True)
    pd.testing.assert_frame_equal(again, rows[again.columns.tolist()], check_dtype=False)
    assert _ctr_strategy(spark, run_cfg, RUN) == "segment_balance"
