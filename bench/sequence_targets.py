"""Where stage 4's next-item targets sit in the user's first-event order (issue 23, protocol).

Stage 1's ``leave_last`` split holds out the items ranked latest by ``aggregate.leave_last_by``
(``first``: the user's first event on the item; ``last``: the last one), while the
``sequences`` table orders each split's items by their *first* event; stage 4
(:meth:`samplegen.evaluate.sequences.LeaveLast.from_frame`) takes the first test item not in
train + valid as the target. This measures, on an aggregated lakehouse, how often that target
was first had before items of the train sequence (so it is not the next item of the order the
model learns), how often it is a repeat item, and how often it is the item a first-event
leave-last split would hold out (the one whose first event is latest). The ranking the
lakehouse was split by is read from stage 1's metrics in the run's manifest (a manifest
without ``leave_last_by`` predates the key: ``last``, the only ranking then); aggregate one
lakehouse per setting to compare them.

    PYTHONPATH=$PWD python bench/sequence_targets.py --conf bench/sequence_strategies.yaml \
        [--run-id base]   # prints a JSON summary; bench/README.md (issue 23) has the figures
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from samplegen.config import Config, load_config
from samplegen.evaluate.sequences import LeaveLast
from samplegen.runinfo import manifest_path
from samplegen.spark import get_spark
from samplegen.tables import (
    EVENTS_CLEAN,
    ITEM_INDEX,
    SEQUENCES,
    USER_INDEX,
    read_table,
    table_store,
)


def pair_times(spark, lake) -> pd.DataFrame:
    """Per (user_idx, item_idx) of the vocabulary: first and last event, distinct event times."""
    events = read_table(spark, lake, EVENTS_CLEAN)
    users = read_table(spark, lake, USER_INDEX).select("user_id", "user_idx")
    items = read_table(spark, lake, ITEM_INDEX).select("item_id", "item_idx")
    return (
        events.join(users, "user_id")
        .join(items, "item_id")
        .groupBy("user_idx", "item_idx")
        .agg(
            F.min("event_time").alias("first"),
            F.max("event_time").alias("last"),
            F.countDistinct("event_time").alias("times"),
        )
        .toPandas()
    )


def summary(split: LeaveLast, pairs: pd.DataFrame) -> dict:
    """Shares of the scored users whose valid / test target breaks the first-event order."""
    first = pairs.set_index(["user_idx", "item_idx"])["first"]
    times = pairs.set_index(["user_idx", "item_idx"])["times"]
    latest_first = pairs.sort_values(["user_idx", "first", "item_idx"]).groupby("user_idx").last()
    out: dict = {"scored_users": len(split.users)}
    for which, targets in (("valid", split.valid), ("test", split.targets("test"))):
        before_last, before_all, repeat, later_share = [], [], [], []
        for user, history, target in zip(split.users, split.train, targets, strict=True):
            t = first[(int(user), int(target))]
            train_firsts = first.loc[[(int(user), int(i)) for i in history]].to_numpy()
            before_last.append(t < train_firsts.max())
            before_all.append(t < train_firsts.min())
            later_share.append(float(np.mean(train_firsts > t)))
            repeat.append(times[(int(user), int(target))] > 1)
        out[which] = {
            "first_event_before_the_last_train_item": float(np.mean(before_last)),
            "first_event_before_every_train_item": float(np.mean(before_all)),
            "mean_share_of_train_items_first_had_after_it": float(np.mean(later_share)),
            "bought_at_more_than_one_time": float(np.mean(repeat)),
        }
    newest = latest_first.loc[split.users, "item_idx"].to_numpy()
    out["test"]["is_the_item_with_the_latest_first_event"] = float(
        np.mean(newest == split.targets("test"))
    )
    return out


def split_setting(cfg: Config, run_id: str) -> dict:
    """Stage 1's ``split`` and ``leave_last_by`` of ``run_id``, from its manifest."""
    manifest = json.loads(manifest_path(cfg.reports_root, run_id).read_text())
    metrics = manifest["stages"]["aggregate"]["metrics"]
    by = metrics.get("leave_last_by", "last")  # no key: aggregated before it existed
    return {"run_id": run_id, "split": metrics["split"], "leave_last_by": by}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conf", required=True)
    parser.add_argument("--set", action="append", default=[], help="config override")
    parser.add_argument("--run-id", default="base", help="the run that aggregated the lakehouse")
    args = parser.parse_args()
    cfg = load_config(args.conf, args.set)
    spark = get_spark(cfg.spark)
    frame = read_table(spark, table_store(cfg), SEQUENCES).toPandas().sort_values("user_idx")
    split = LeaveLast.from_frame(frame)
    out = split_setting(cfg, args.run_id) | summary(split, pair_times(spark, table_store(cfg)))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
