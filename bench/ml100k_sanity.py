"""MovieLens-100K sanity check: Mult-VAE vs EASE vs popularity, strong generalisation.

Protocol of Liang et al. 2018 (Mult-VAE), scaled down to ML-100K: ratings >= 4 are positives,
users with >= 5 positives are kept, and users (not events) are held out. The users are split
into ``2 * --folds`` random parts; fold f tests on parts 2f and 2f+1, validates on part 2f+2
and trains on the other parts (70/10/20 with 5 folds; every user is a test user exactly once,
so the folds pool to one test set of all users). Models see the training users' full
histories, over the items those users have. Each validation/test user with >= 5
known items gives a random 20% of them as targets and the rest as fold-in input; items are
ranked over the whole catalogue with the fold-in items masked. Recall@20 divides hits by
min(20, |targets|) and NDCG@100 uses binary relevance (``samplegen.evaluate.metrics``).

Mult-VAE ([600, 200], dropout 0.5, beta annealed linearly to 0.2 over the run, Adam 1e-3) is
trained with ``MultVAE.fit`` (the production training loop), which keeps the weights of the
epoch with the best validation NDCG@100; EASE's l2 is picked on the validation users from a
small grid.

    python bench/ml100k_sanity.py   # writes bench/results/ml100k_sanity.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from samplegen.data import movielens
from samplegen.evaluate.metrics import (
    bootstrap_ci,
    ndcg_at_k,
    paired_bootstrap_ci,
    recall_at_k,
    top_k_items,
)
from samplegen.evaluate.recommenders.ease import EASERecommender
from samplegen.evaluate.recommenders.popularity import PopularityRecommender
from samplegen.models import MultVAE
from samplegen.train.loop import train_loop

SEED = 2018
MIN_POSITIVES = 5
TARGET_SHARE = 0.2
BATCH_SIZE = 100
EASE_L2 = [10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0]
BOOTSTRAP = 2000
MODELS = ("popularity", "ease", "multvae")


def positives() -> list[np.ndarray]:
    """Each kept user's positive item ids (ints), users in random order."""
    ratings = movielens.read_ratings()
    pos = ratings[ratings["rating"] >= 4]
    per_user = pos.groupby("user_id")["item_id"].agg(lambda s: np.sort(s.astype(int).to_numpy()))
    per_user = per_user[per_user.map(len) >= MIN_POSITIVES].sort_index()
    order = np.random.default_rng(SEED).permutation(len(per_user))
    return [per_user.iloc[i] for i in order]


def dense(rows: list[np.ndarray], n_items: int) -> np.ndarray:
    x = np.zeros((len(rows), n_items), dtype=np.float32)
    for i, row in enumerate(rows):
        x[i, row] = 1.0
    return x


def fold_in_split(users: list[np.ndarray], index: dict[int, int], rng: np.random.Generator):
    """Liang's split: known items only; users with >= 5 give 20% as targets, others dropped."""
    inputs, targets = [], []
    for items in users:
        known = np.array([index[i] for i in items if i in index], dtype=np.int64)
        if len(known) < 5:
            continue
        held = np.zeros(len(known), dtype=bool)
        held[rng.choice(len(known), size=int(TARGET_SHARE * len(known)), replace=False)] = True
        inputs.append(known[~held])
        targets.append(known[held])
    return inputs, targets


def evaluate(scores: np.ndarray, inputs, targets) -> dict[str, np.ndarray]:
    top = top_k_items(scores, 100, inputs)
    return {"recall@20": recall_at_k(top, targets, 20), "ndcg@100": ndcg_at_k(top, targets, 100)}


def shuffled_batches(x: torch.Tensor, batch_size: int, rng: np.random.Generator):
    """Endless batches of ``batch_size`` rows, reshuffled every pass over ``x``."""
    while True:
        order = rng.permutation(len(x))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield x[order[start : start + batch_size]]


def train_multvae(x_train, valid, epochs: int, seed: int) -> tuple[MultVAE, int, list[float]]:
    """Train with the production loop; it keeps the best validation NDCG@100 epoch."""
    torch.manual_seed(seed)
    steps_per_epoch = len(x_train) // BATCH_SIZE
    gen = MultVAE({"n_items": x_train.shape[1], "anneal_steps": epochs * steps_per_epoch})
    valid_x = torch.from_numpy(dense(valid[0], x_train.shape[1]))

    def validate(generator: MultVAE) -> float:
        scores = generator.scores(valid_x).numpy()
        return float(np.nanmean(evaluate(scores, *valid)["ndcg@100"]))

    batches = shuffled_batches(torch.from_numpy(x_train), BATCH_SIZE, np.random.default_rng(seed))
    with contextlib.redirect_stdout(io.StringIO()):
        history = train_loop(gen, batches, epochs, steps_per_epoch, validate=validate)
    curve = [r["valid_score"] for r in history]
    gen.module.eval()
    return gen, int(np.argmax(curve)), curve


def run_fold(users: list[np.ndarray], parts: list[np.ndarray], f: int, epochs: int) -> dict:
    test_parts, valid_part = (2 * f, 2 * f + 1), (2 * f + 2) % len(parts)
    test_ids = np.concatenate([parts[j] for j in test_parts])
    valid_ids = parts[valid_part]
    held = (*test_parts, valid_part)
    train_ids = np.concatenate([parts[j] for j in range(len(parts)) if j not in held])
    items = np.unique(np.concatenate([users[u] for u in train_ids]))
    index = {int(item): i for i, item in enumerate(items)}
    n_items = len(items)
    x_train = dense([np.array([index[i] for i in users[u]]) for u in train_ids], n_items)
    rng = np.random.default_rng([SEED, f])
    valid = fold_in_split([users[u] for u in valid_ids], index, rng)
    test = fold_in_split([users[u] for u in test_ids], index, rng)
    valid_x, test_x = dense(valid[0], n_items), dense(test[0], n_items)

    ease_valid = {
        l2: float(
            np.nanmean(
                evaluate(EASERecommender(l2).fit(x_train).score(valid_x), *valid)["ndcg@100"]
            )
        )
        for l2 in EASE_L2
    }
    best_l2 = max(ease_valid, key=ease_valid.get)
    gen, best_epoch, curve = train_multvae(x_train, valid, epochs, seed=SEED + f)
    with torch.no_grad():
        vae_scores = gen.module(torch.from_numpy(test_x))[0].numpy()
    per_user = {
        "popularity": evaluate(PopularityRecommender().fit(x_train).score(test_x), *test),
        "ease": evaluate(EASERecommender(best_l2).fit(x_train).score(test_x), *test),
        "multvae": evaluate(vae_scores, *test),
    }
    return {
        "fold": f,
        "n_train_users": len(train_ids),
        "n_valid_users": len(valid[0]),
        "n_test_users": len(test[0]),
        "n_items": n_items,
        "ease_valid_ndcg@100": ease_valid,
        "ease_l2": best_l2,
        "multvae_best_epoch": best_epoch + 1,
        "multvae_valid_ndcg@100_curve": curve,
        "per_user": per_user,
    }


def summarise(results: list[dict]) -> dict:
    summary: dict = {}
    pooled = {
        m: {
            metric: np.concatenate([r["per_user"][m][metric] for r in results])
            for metric in ("recall@20", "ndcg@100")
        }
        for m in MODELS
    }
    for m in MODELS:
        for metric, values in pooled[m].items():
            fold_means = np.array([np.nanmean(r["per_user"][m][metric]) for r in results])
            summary[f"{m} {metric}"] = {
                "mean": float(np.nanmean(values)),
                "bootstrap95": bootstrap_ci(values, BOOTSTRAP, SEED),
                "fold_mean": float(fold_means.mean()),
                "fold_sd": float(fold_means.std(ddof=1)),
            }
    for base in ("popularity", "ease"):
        for metric in ("recall@20", "ndcg@100"):
            summary[f"multvae - {base} {metric}"] = dict(
                zip(
                    ("mean", "low", "high"),
                    paired_bootstrap_ci(
                        pooled[base][metric], pooled["multvae"][metric], BOOTSTRAP, SEED
                    ),
                    strict=True,
                )
            )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results/ml100k_sanity.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)  # deterministic, and faster than 2 threads on a shared 2-core box
    started = time.perf_counter()
    users = positives()
    parts = np.array_split(np.arange(len(users)), 2 * args.folds)
    results = []
    for f in range(args.folds):
        results.append(run_fold(users, parts, f, args.epochs))
        r = results[-1]
        print(
            f"fold {f}: train {r['n_train_users']} valid {r['n_valid_users']} "
            f"test {r['n_test_users']} users, {r['n_items']} items; EASE l2 {r['ease_l2']:g}; "
            f"Mult-VAE best epoch {r['multvae_best_epoch']}/{args.epochs}",
            flush=True,
        )
    summary = summarise(results)
    wall = time.perf_counter() - started

    n_test = sum(r["n_test_users"] for r in results)
    print(
        f"\n{len(users)} users with >= {MIN_POSITIVES} positives, {args.folds} folds, "
        f"{n_test} test users in all; mean [95% bootstrap over test users] (sd over folds)"
    )
    print(f"{'model':<11}{'Recall@20':>34}{'NDCG@100':>34}")
    for m in MODELS:
        cells = []
        for metric in ("recall@20", "ndcg@100"):
            s = summary[f"{m} {metric}"]
            lo, hi = s["bootstrap95"]
            cells.append(f"{s['mean']:.4f} [{lo:.4f}, {hi:.4f}] ({s['fold_sd']:.4f})")
        print(f"{m:<11}{cells[0]:>34}{cells[1]:>34}")
    for base in ("popularity", "ease"):
        for metric in ("recall@20", "ndcg@100"):
            d = summary[f"multvae - {base} {metric}"]
            print(
                f"Mult-VAE - {base:<10} {metric:<9} {d['mean']:+.4f} "
                f"[{d['low']:+.4f}, {d['high']:+.4f}] (paired bootstrap 95%)"
            )
    print(f"wall time {wall:.1f} s")

    for r in results:
        r["per_user"] = {
            m: {k: float(np.nanmean(v)) for k, v in d.items()} for m, d in r["per_user"].items()
        }
    report = {
        "command": "python bench/ml100k_sanity.py"
        + (
            ""
            if (args.folds, args.epochs) == (5, 100)
            else f" --folds {args.folds} --epochs {args.epochs}"
        ),
        "data": f"MovieLens-100K from recbole {movielens.RECBOLE_VERSION} wheel",
        "protocol": {
            "positive_rating": ">= 4",
            "min_positives": MIN_POSITIVES,
            "folds": args.folds,
            "target_share": TARGET_SHARE,
            "seed": SEED,
            "bootstrap_samples": BOOTSTRAP,
        },
        "multvae": {
            "hidden_dims": [600, 200],
            "dropout": 0.5,
            "beta_cap": 0.2,
            "anneal": "linear over all epochs",
            "optimizer": "Adam lr 1e-3",
            "batch_size": BATCH_SIZE,
            "max_epochs": args.epochs,
        },
        "ease_l2_grid": EASE_L2,
        "n_users": len(users),
        "summary": summary,
        "folds": results,
        "wall_s": wall,
        "machine": f"{platform.machine()} {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, numpy {np.__version__}",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
