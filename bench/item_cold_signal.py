"""How much signal the items_new slice holds on completejourney, and where (issue 20).

Reads a lakehouse that ``bench/item_cold.py --candidates period`` wrote (a ``new_items`` run with
every new item) and prints, for the test period's new items (the ``period`` candidates):

- NDCG@20 of one fixed random order shared by every user, over 300 orders: what a model whose
  new-item order is unrelated to the users gets by the luck of which items it puts first (a
  paired bootstrap over users does not see this item-level chance);
- NDCG@20 of the hindsight popularity order (the test period's own counts): the ceiling of
  knowing which new items will sell;
- Spearman correlations with each new item's test- and valid-period user counts of what is
  known at the cut: the attribute map's predicted output bias (the Mult-VAE's popularity term)
  and the category's train popularity, and of the user counts ``new_items`` drew.

    PYTHONPATH=$PWD python bench/item_cold_signal.py --work /tmp/ic_period
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from samplegen.config import load_config
from samplegen.generate.new_items import plan_new_items, seen_before_cut, train_cut
from samplegen.spark import get_spark
from samplegen.tables import (
    CATALOGUE,
    DATA_PROFILE,
    EVENTS_CLEAN,
    ITEM_FEATURES,
    TEST_NEW_ITEMS,
    VALID_NEW_ITEMS,
    read_table,
)

K = 20
ORDERS = 300


def ndcg_of_order(top: np.ndarray, targets: list[np.ndarray]) -> float:
    """Mean NDCG@K over users of one ranking ``top`` shared by all of them."""
    discount = 1 / np.log2(np.arange(2, K + 2))
    values = [
        (np.isin(top, t) * discount).sum() / discount[: min(len(t), K)].sum() for t in targets
    ]
    return float(np.mean(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="bench/item_cold.py's --work folder")
    parser.add_argument("--run-id", default="item-cold-bench")
    args = parser.parse_args()
    work = Path(args.work)
    cfg = load_config(
        "conf/local.yaml",
        [f"lakehouse={work / 'lakehouse'}", "spark.conf.spark.ui.enabled='false'"],
    )
    spark = get_spark(cfg.spark)
    lake = cfg.lakehouse
    pairs = read_table(spark, lake, TEST_NEW_ITEMS).toPandas()
    items = sorted(pairs["item_id"].unique())
    column = {item: j for j, item in enumerate(items)}
    targets = [np.unique([column[i] for i in g["item_id"]]) for _, g in pairs.groupby("user_idx")]
    luck = [
        ndcg_of_order(np.random.default_rng(s).permutation(len(items))[:K], targets)
        for s in range(ORDERS)
    ]
    popular = pairs["item_id"].value_counts()
    out: dict[str, object] = {
        "users": len(targets),
        "new items sold in the test period": len(items),
        f"fixed random order ndcg@{K}": {
            "mean": round(float(np.mean(luck)), 5),
            "p90": round(float(np.quantile(luck, 0.9)), 5),
            "p97.5": round(float(np.quantile(luck, 0.975)), 5),
            "max": round(float(np.max(luck)), 5),
        },
        f"hindsight popularity order ndcg@{K}": round(
            ndcg_of_order(np.array([column[i] for i in popular.index[:K]]), targets), 5
        ),
    }
    cut = train_cut(read_table(spark, lake, DATA_PROFILE))
    plan = plan_new_items(
        read_table(spark, lake, ITEM_FEATURES),
        read_table(spark, lake, CATALOGUE),
        str(work / "models" / "multvae" / args.run_id),
        10**6,
        cfg.generate.seed,
        seen=seen_before_cut(read_table(spark, lake, EVENTS_CLEAN), cut),
    )
    new = pd.DataFrame(
        {"item_id": plan.item_ids, "bias": plan.bias, "drawn_users": plan.users_per_item}
    )
    for name, table in (("test_users", TEST_NEW_ITEMS), ("valid_users", VALID_NEW_ITEMS)):
        counts = read_table(spark, lake, table).toPandas().groupby("item_id").size()
        new = new.join(counts.rename(name), on="item_id")
    new = new.fillna({"test_users": 0, "valid_users": 0})
    categories = read_table(spark, lake, CATALOGUE).select("item_id", "category").toPandas()
    indexed = read_table(spark, lake, ITEM_FEATURES).select("item_id", "n_users").toPandas()
    by_category = indexed.merge(categories, on="item_id").groupby("category")["n_users"].sum()
    new = new.merge(categories, on="item_id", how="left")
    new["category_popularity"] = new["category"].map(by_category).fillna(0)
    out["new items of the run"] = len(new)
    out["spearman with the new items' user counts"] = {
        known: {
            period: round(float(spearmanr(new[known], new[period])[0]), 3)
            for period in ("test_users", "valid_users")
        }
        for known in ("bias", "category_popularity", "drawn_users")
    }
    print(json.dumps(out, indent=2))
    spark.stop()


if __name__ == "__main__":
    main()
