"""The attribute map of ``new_items``: ridge (the product's) vs a warm-start-style MLP (issue 20).

Issue 20 asks for a DropoutNet/Heater-style alternative to the ridge map from item attributes to
a Mult-VAE output row, kept only if it wins on held-out warm items. This probe fits both on the
same 90% of the indexed items and scores them the way ``new_items`` uses a row: for each of the
other 10% (``holdout_items``, as ``holdout_user_auc`` splits), the AUC of its predicted logits
``hidden @ w + b`` at telling its train users from the rest (``mean_user_auc``), over the same
2,000 users as the generate stage's ``attribute_map/holdout_user_auc``. The MLP (one hidden
layer, ReLU, dropout, AdamW, full batch) is trained either to imitate the rows (as ridge does)
or to imitate the users' scores ``hidden @ w + b`` (DropoutNet's objective).

Needs a lakehouse with a trained multvae (``make run``), e.g.:

    PYTHONPATH=$PWD python bench/item_map_probe.py --model lakehouse/models/multvae/<run_id>
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from pyspark.sql import functions as F

from samplegen.config import load_config
from samplegen.generate.new_items import (
    ATTRIBUTES,
    AUC_USERS,
    RIDGE_L2S,
    AttributeEncoder,
    holdout_items,
    holdout_r2,
    holdout_user_auc,
    mean_user_auc,
)
from samplegen.generate.udf import histories
from samplegen.models.store import load_generator
from samplegen.spark import get_spark
from samplegen.tables import INTERACTIONS, ITEM_FEATURES, read_table

#: (hidden units, weight decay, epochs, dropout, what the MLP imitates)
MLP_SETTINGS = ((256, 1e-2, 300, 0.2, "scores"), (256, 1e-2, 300, 0.2, "rows"),
                (512, 1e-1, 600, 0.5, "scores"), (128, 1e-2, 150, 0.0, "scores"))  # fmt: skip


def mlp_rows(x_fit, y_fit, x_new, hidden, units, decay, epochs, dropout, imitate) -> np.ndarray:
    """Rows (new items, H + 1) an MLP fitted on ``(x_fit, y_fit)`` predicts for ``x_new``."""
    torch.manual_seed(0)
    x = torch.tensor(x_fit, dtype=torch.float32)
    y = torch.tensor(y_fit, dtype=torch.float32)
    users = torch.tensor(hidden, dtype=torch.float32)
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], units),
        torch.nn.ReLU(),
        torch.nn.Dropout(dropout),
        torch.nn.Linear(units, y.shape[1]),
    )
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=decay)
    target = users @ y[:, :-1].T + y[:, -1]
    for _ in range(epochs):
        net.train()
        optimizer.zero_grad()
        rows = net(x)
        if imitate == "scores":
            loss = ((users @ rows[:, :-1].T + rows[:, -1] - target) ** 2).mean()
        else:
            loss = ((rows - y) ** 2).mean()
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        return net(torch.tensor(x_new, dtype=torch.float32)).numpy().astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conf", default="conf/local.yaml")
    parser.add_argument("--model", required=True, help="a trained multvae's folder")
    args = parser.parse_args()
    cfg = load_config(args.conf, ["spark.master=local[1]", "spark.conf.spark.ui.enabled='false'"])
    spark = get_spark(cfg.spark)
    seed = cfg.generate.seed
    features = read_table(spark, cfg.lakehouse, ITEM_FEATURES)
    indexed = features.select("item_idx", *ATTRIBUTES).toPandas().sort_values("item_idx")
    x = AttributeEncoder.fit(indexed).transform(indexed)
    generator = load_generator(args.model)
    item_rows, item_bias = generator.item_embeddings()
    y = np.hstack([item_rows, item_bias[:, None]]).astype(np.float64)[indexed["item_idx"]]
    train = read_table(spark, cfg.lakehouse, INTERACTIONS["train"])
    users = train.orderBy(F.xxhash64("user_idx", F.lit(seed))).limit(AUC_USERS).toPandas()
    x_users = histories(users["item_idx"], len(item_rows))
    owned = x_users.numpy().astype(bool)
    hidden = generator.user_hidden(x_users).detach().numpy()

    r2 = {l2: holdout_r2(x, y, l2, seed) for l2 in RIDGE_L2S}
    l2 = max(RIDGE_L2S, key=lambda penalty: (r2[penalty], -penalty))
    started = time.perf_counter()
    by_ridge, by_mean, trained = holdout_user_auc(x, y, l2, seed + 1, hidden, owned)
    out: dict[str, object] = {
        "items": len(x), "features": x.shape[1], "users": len(hidden), "ridge_l2": l2,
        "ridge": round(by_ridge, 4), "ridge_seconds": round(time.perf_counter() - started, 1),
        "mean_row": round(by_mean, 4), "trained_row": round(trained, 4), "mlp": [],
    }  # fmt: skip
    held = holdout_items(len(x), seed + 1)  # the items holdout_user_auc holds out
    for setting in MLP_SETTINGS:
        started = time.perf_counter()
        rows = mlp_rows(x[~held], y[~held], x[held], hidden, *setting)
        auc = mean_user_auc(rows, np.flatnonzero(held), hidden, owned)
        out["mlp"].append(  # type: ignore[union-attr]
            {
                "setting": setting,
                "user_auc": round(auc, 4),
                "seconds": round(time.perf_counter() - started, 1),
            }  # fmt: skip
        )
        print(out["mlp"][-1], flush=True)  # type: ignore[index]
    print(json.dumps(out, indent=2))
    spark.stop()


if __name__ == "__main__":
    main()
