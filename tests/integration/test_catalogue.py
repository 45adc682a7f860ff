from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from samplegen.evaluate import run_evaluate
from samplegen.features.text import embed_texts, item_texts, with_text_embeddings
from samplegen.generate import run_generate
from samplegen.generate.catalogue import CONSTRAINTS, CatalogueRules, catalogue_items, quotas
from samplegen.models.store import model_dir
from samplegen.tables import EVAL_METRICS, ITEM_FEATURES, SYNTHETIC_ITEMS, read_table
from samplegen.train import run_train

pytestmark = [pytest.mark.spark, pytest.mark.slow]

RUN = "catalogue-run"


def test_quotas_lift_rare_categories_and_sum_to_the_total():
    counts = pd.Series({"a": 90, "b": 9, "c": 1})
    assert quotas(counts, 30, 1.0).to_dict() == {"a": 27, "b": 3, "c": 0}
    lifted = quotas(counts, 30, 0.0)
    assert lifted.to_dict() == {"a": 10, "b": 10, "c": 10}
    half = quotas(counts, 31, 0.5)
    assert half.sum() == 31 and half["c"] > 0 and half["a"] > half["b"] > half["c"]


def test_rules_name_the_first_broken_constraint():
    real = pd.DataFrame(
        {
            "category": ["milk", "milk", "bread"],
            "department": ["dairy", "dairy", "bakery"],
            "brand": ["x", "y", "x"],
            "mean_price": [1.0, 3.0, 2.0],
        }
    )
    rules = CatalogueRules.from_items(real)

    def row(category="milk", department="dairy", brand="x", price=2.0):
        return pd.Series(
            {"category": category, "department": department, "brand": brand, "price": price}
        )

    assert rules.violation(row()) is None
    assert rules.violation(row(brand="z")) == "unknown_value"
    assert rules.violation(row(department="bakery")) == "unknown_pair"
    assert rules.violation(row(price=0.5)) == "price_out_of_range"
    assert rules.violation(row(price=-1.0)) == "price_out_of_range"
    assert rules.violation(row(price=None)) == "price_out_of_range"
    configured = CatalogueRules.from_items(real, price_range=[0.25, 10.0])
    assert configured.violation(row(price=0.5)) is None  # below the real bounds, allowed
    assert configured.violation(row(price=12.0)) == "price_out_of_range"


def test_catalogue_items_meet_constraints_and_quotas(spark, cfg, pipeline_run, tmp_path):
    tabular = replace(
        cfg.train.tabular,
        table="item_features",
        discrete_columns=["category", "department", "brand"],
        continuous_columns=["mean_price"],
        batch_size=100,
    )
    run_cfg = replace(
        cfg,
        models_root=str(tmp_path / "models"),
        train=replace(
            cfg.train,
            model="tabular",
            loader="arrow",
            epochs=3,
            num_processes=1,
            local_mode=True,
            tabular=tabular,
        ),
        generate=replace(cfg.generate, strategy="catalogue", synthetic_items=60, balance_power=0.5),
    )
    items = read_table(spark, cfg.lakehouse, ITEM_FEATURES).toPandas()
    assert run_train(spark, run_cfg, RUN).rows["training_rows"] == len(items)
    result = run_generate(spark, run_cfg, RUN)
    rows = (
        read_table(spark, cfg.lakehouse, SYNTHETIC_ITEMS).where(F.col("run_id") == RUN).toPandas()
    )
    m = result.metrics
    assert len(rows) == result.rows["synthetic_items"] == m["synthetic_items_written"]

    # Constraints hold on every written row; what broke one was counted, never written.
    rules = CatalogueRules.from_items(items)
    assert all(rules.violation(r) is None for _, r in rows.iterrows())
    assert set(m["violations"]) == set(CONSTRAINTS)
    assert (rows["price"] > 0).all()

    # Quotas: every category gets its quota (within one row per category when the model could
    # not produce enough valid rows in the allowed rounds), rare ones more than their share.
    per_category = rows["category"].value_counts()
    for category, figures in m["categories"].items():
        assert abs(per_category.get(category, 0) - figures["quota"]) <= 1
        assert figures["written"] == per_category.get(category, 0)
    assert sum(f["quota"] for f in m["categories"].values()) == 60
    rarest = min(m["categories"].items(), key=lambda kv: kv[1]["real_share"])[1]
    assert rarest["quota"] >= 1 and rarest["quota"] / 60 > rarest["real_share"]

    # Titles: words of the item's category's real titles only; counted; no embedding by default.
    words = (
        items.dropna(subset=["title"])
        .groupby("category")["title"]
        .agg(lambda titles: set(" ".join(titles).split()))
    )
    titled = rows.dropna(subset=["title"])
    assert len(titled) == m["titles"]["written"] > 0.9 * len(rows)
    assert all(
        set(t.split()) <= words[c]
        for c, t in zip(titled["category"], titled["title"], strict=False)
    )
    assert 0 <= m["titles"]["copies_of_real"] <= len(titled)
    assert rows["text_embedding"].isna().all()

    # Namespaced ids, provenance, and the same rows on a rerun (replaced, not appended).
    assert rows["item_id"].str.fullmatch(rf"syn-item:{RUN}:\d+").all()
    assert rows["item_id"].is_unique
    assert set(rows["strategy"]) == {"catalogue"} and set(rows["model"]) == {"tabular"}
    run_generate(spark, run_cfg, RUN)
    again = (
        read_table(spark, cfg.lakehouse, SYNTHETIC_ITEMS).where(F.col("run_id") == RUN).toPandas()
    )
    columns = ["item_id", "category", "department", "brand", "price", "title"]
    pd.testing.assert_frame_equal(
        rows.sort_values("item_id")[columns].reset_index(drop=True),
        again.sort_values("item_id")[columns].reset_index(drop=True),
    )

    # Evaluate reports the synthetic items' fidelity.
    evaluated = run_evaluate(spark, run_cfg, RUN)
    figures = evaluated.metrics["item_fidelity"]
    assert set(figures) == {
        "tvd:category",
        "tvd:department",
        "tvd:brand",
        "ks:price",
        "pair_tvd:department,category",
        "tvd:title_words",
        "ks:title_length",
    }
    assert all(0.0 <= v <= 1.0 for v in figures.values())
    written = read_table(spark, cfg.lakehouse, EVAL_METRICS).where(F.col("run_id") == RUN)
    assert written.where(F.col("recommender") == "item_fidelity").count() == len(figures)
    html = Path(evaluated.outputs["report"]).read_text(encoding="utf-8")
    assert 'id="item_fidelity-table"' in html and "pair_tvd:department,category" in html

    # With text embeddings in item_features, each synthetic item gets the embedding of its text.
    embedded = with_text_embeddings(
        read_table(spark, cfg.lakehouse, ITEM_FEATURES).drop("text_embedding")
    ).localCheckpoint()
    model = str(model_dir(run_cfg, RUN).resolve())
    kept, _ = catalogue_items(spark, embedded, model, 12, 0.5, 7, RUN)
    kept = kept.toPandas()
    expected = embed_texts(item_texts(kept))
    assert np.allclose(np.stack(kept["text_embedding"].to_numpy()), expected, atol=1e-5)


def test_catalogue_needs_a_tabular_model_of_item_features(spark, cfg, pipeline_run):
    bad = replace(cfg, generate=replace(cfg.generate, strategy="catalogue"))
    with pytest.raises(ValueError, match="train.tabular.table=item_features"):
        run_generate(spark, bad, "catalogue-bad")
