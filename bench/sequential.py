"""Next-item benchmark: SASRec (full softmax CE) vs EASE vs popularity, leave-last, full ranking.

The protocol of :mod:`samplegen.evaluate.sequences`: each user's distinct items in order of
first interaction; the last is the test target, the one before it the valid target. Items
need ``--min-item-users`` distinct users (the pipeline's ``aggregate.min_item_users``) and at
most ``--top-n-items`` are kept (by users), as stage 1 does; users need 3 such items. Every
model's settings are chosen on valid (EASE's l2, SASRec's layers x dropout) and the chosen one
is scored once on test, the history masked. Per slice (history length): HR@10/20 and
NDCG@10/20, and the paired bootstrap CI of SASRec - EASE (the strongest non-sequential model
here); a slice under ``--min-users`` users gets no verdict.

    python bench/sequential.py --dataset ml100k        # writes bench/results/sequential_ml100k.json
    python bench/sequential.py --dataset completejourney
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from samplegen.config import EvaluateConfig
from samplegen.evaluate.metrics import bootstrap_ci, paired_bootstrap_ci
from samplegen.evaluate.recommenders.ease import EASERecommender
from samplegen.evaluate.recommenders.sasrec import SASRecRecommender
from samplegen.evaluate.records import dense_rows
from samplegen.evaluate.sequences import (
    HISTORY_SLICES,
    LeaveLast,
    next_item_metrics,
    ordered_histories,
)

KS = (10, 20)
RESULTS = Path(__file__).parent / "results"


def load(dataset: str) -> pd.DataFrame:
    """``user_id``, ``item_id``, ``event_time`` of the dataset's interactions."""
    if dataset == "ml100k":
        from samplegen.data.movielens import events_frame

        return events_frame()[["user_id", "item_id", "event_time"]]
    from samplegen.data.completejourney import _data_dir

    lines = pd.read_parquet(_data_dir() / "transactions.parquet")
    return pd.DataFrame(
        {
            "user_id": lines["household_id"].astype(str),
            "item_id": lines["product_id"].astype(str),
            "event_time": lines["transaction_timestamp"],
        }
    )


def indexed(events: pd.DataFrame, min_item_users: int, top_n_items: int) -> pd.DataFrame:
    """Keep vocabulary items (enough users, the top-N by users) and index users and items."""
    users_per_item = events.groupby("item_id")["user_id"].nunique()
    vocab = users_per_item[users_per_item >= min_item_users]
    vocab = vocab.sort_values(ascending=False, kind="stable").head(top_n_items)
    kept = events[events["item_id"].isin(vocab.index)].copy()
    kept["item_idx"] = kept["item_id"].map({item: i for i, item in enumerate(vocab.index)})
    kept["user_idx"] = kept["user_id"].astype("category").cat.codes.astype(np.int64)
    return kept[["user_idx", "item_idx", "event_time"]]


def matrix(histories: list[np.ndarray], n_items: int) -> np.ndarray:
    """Binary user x item matrix of the histories (what a matrix recommender sees)."""
    return dense_rows(histories, np.arange(n_items), n_items)


def ease_scorer(train: list[np.ndarray], n_items: int, l2: float):
    """EASE fitted on the training sequences as sets; scores a history by fold-in."""
    model = EASERecommender(l2=l2).fit(matrix(train, n_items))
    return lambda block: model.score(matrix(block, n_items))


def popularity_scorer(train: list[np.ndarray], n_items: int):
    """Items by how many training sequences hold them, the same for everyone."""
    counts = np.bincount(np.concatenate(train), minlength=n_items).astype(np.float32)
    return lambda block: np.tile(counts, (len(block), 1))


def valid_ndcg(scorer, split: LeaveLast) -> float:
    return float(next_item_metrics(scorer, split, "valid", [20])["ndcg@20"].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["ml100k", "completejourney"], default="ml100k")
    parser.add_argument("--min-item-users", type=int, default=10)
    parser.add_argument("--top-n-items", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=EvaluateConfig().sasrec_epochs)
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dropouts", type=float, nargs="+", default=[0.2, 0.5])
    parser.add_argument("--min-users", type=int, default=50)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    started = time.perf_counter()

    events = indexed(load(args.dataset), args.min_item_users, args.top_n_items)
    n_items = int(events["item_idx"].max()) + 1
    split = LeaveLast.of(ordered_histories(events))
    print(f"{args.dataset}: {len(split.users)} users, {n_items} items")

    chosen: dict[str, object] = {}
    scorers = {"popularity": popularity_scorer(split.train, n_items)}
    ease_grid = {
        l2: valid_ndcg(ease_scorer(split.train, n_items, l2), split)
        for l2 in (10.0, 50.0, 250.0, 1000.0)
    }
    chosen["ease_l2"] = max(ease_grid, key=ease_grid.get)
    scorers["ease"] = ease_scorer(split.train, n_items, chosen["ease_l2"])
    sasrec_grid = {}
    models = {}
    defaults = EvaluateConfig()
    for layers in args.layers:
        for dropout in args.dropouts:
            t = time.perf_counter()
            model = SASRecRecommender(
                {
                    "hidden": defaults.sasrec_hidden,
                    "layers": layers,
                    "dropout": dropout,
                    "max_len": defaults.sasrec_max_len,
                },
                epochs=args.epochs,
                learning_rate=defaults.sasrec_learning_rate,
                seed=args.seed,
            ).fit(split.train, n_items)
            key = f"layers={layers},dropout={dropout}"
            sasrec_grid[key] = valid_ndcg(model.score, split)
            models[key] = model
            seconds = time.perf_counter() - t
            print(f"sasrec {key}: valid ndcg@20 {sasrec_grid[key]:.4f} ({seconds:.0f} s)")
    chosen["sasrec"] = max(sasrec_grid, key=sasrec_grid.get)
    scorers["sasrec"] = models[chosen["sasrec"]].score

    test = {name: next_item_metrics(s, split, "test", KS) for name, s in scorers.items()}
    rows = []
    slices = [("all", None)] + [(name, name) for name, _, _ in HISTORY_SLICES]
    for slice_name, label in slices:
        mask = (
            np.ones(len(split.users), bool)
            if label is None
            else (test["ease"]["slice"].to_numpy() == label)
        )
        n = int(mask.sum())
        for metric in [f"{m}@{k}" for k in KS for m in ("hr", "ndcg")]:
            row = {"slice": slice_name, "users": n, "metric": metric}
            for name, frame in test.items():
                values = frame[metric].to_numpy()[mask]
                row[name] = float(values.mean()) if n else float("nan")
                if n:
                    row[f"{name}_ci"] = bootstrap_ci(values, 500, args.seed)
            if n >= args.min_users:
                diff, low, high = paired_bootstrap_ci(
                    test["ease"][metric].to_numpy()[mask],
                    test["sasrec"][metric].to_numpy()[mask],
                    1000,
                    args.seed,
                )
                verdict = (
                    "better" if low > 0 else "worse" if high < 0 else "no significant difference"
                )
                row |= {"sasrec_minus_ease": [diff, low, high], "verdict": verdict}
            else:
                row["verdict"] = f"too few users (n={n})"
            rows.append(row)
    seconds = time.perf_counter() - started
    result = {
        "dataset": args.dataset,
        "users": int(len(split.users)),
        "items": n_items,
        "chosen_on_valid": chosen,
        "valid_ndcg20": {"ease": ease_grid, "sasrec": sasrec_grid},
        "test": rows,
        "seconds": round(seconds, 1),
        "command": " ".join(["python bench/sequential.py", *sys.argv[1:]]),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"sequential_{args.dataset}.json").write_text(json.dumps(result, indent=1))
    print(f"chosen on valid: {chosen}")
    for row in rows:
        if row["metric"] in ("hr@10", "ndcg@10"):
            extra = row.get("sasrec_minus_ease")
            ci = (
                "" if extra is None else f" diff {extra[0]:+.4f} [{extra[1]:+.4f}, {extra[2]:+.4f}]"
            )
            print(
                f"{row['slice']:>16} n={row['users']:>5} {row['metric']:>8} "
                f"pop {row['popularity']:.4f} ease {row['ease']:.4f} sasrec {row['sasrec']:.4f}"
                f"{ci} {row['verdict']}"
            )
    print(f"{seconds:.0f} s")


if __name__ == "__main__":
    main()
