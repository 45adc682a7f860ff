"""Pack every completejourney household's basket over all 68,509 purchased products.

Writes the training-view layout (``user_idx``, ``n_items``, ``item_bytes``, ``weight_bytes``)
as Parquet files with pandas/pyarrow only, so the GPU benchmark can read it on a machine with
no Spark. Also writes each item's department index (``item_categories.json``, the 19 largest
departments plus "other") for the conditional models, and holds out 20% of the items of 1,000
households with at least 10 items as validation targets (``valid/``, ``user_idx`` and an
``item_idx`` list, the ``interactions_valid`` layout). Usage:
``python bench/prepare_gpu_data.py OUT_DIR [N_FILES]``.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from samplegen.data.completejourney import _data_dir
from samplegen.features.interactions import pack_rows

N_CATEGORIES = 20
VALID_USERS = 1000


def item_categories(items: dict) -> tuple[list[int], list[str]]:
    """Department index per item (largest departments first, the rest as "other")."""
    products = pd.read_parquet(
        _data_dir() / "products.parquet", columns=["product_id", "department"]
    )
    department = products.set_index("product_id")["department"]
    of_item = pd.Series(list(items)).map(department)
    keep = list(of_item.value_counts().index[: N_CATEGORIES - 1])
    index = {name: i for i, name in enumerate(keep)}
    return [index.get(d, len(keep)) for d in of_item], [*keep, "other"]


def main() -> None:
    out = Path(sys.argv[1])
    n_files = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    out.mkdir(parents=True, exist_ok=True)
    lines = pd.read_parquet(
        _data_dir() / "transactions.parquet", columns=["household_id", "product_id"]
    )
    items = {p: i for i, p in enumerate(np.sort(lines["product_id"].unique()))}
    users = {u: i for i, u in enumerate(np.sort(lines["household_id"].unique()))}
    pairs = pd.DataFrame(
        {"user_idx": lines["household_id"].map(users), "item_idx": lines["product_id"].map(items)}
    ).drop_duplicates()
    rows = pairs.sort_values(["user_idx", "item_idx"]).groupby("user_idx")["item_idx"].apply(list)
    rng = np.random.default_rng(0)
    eligible = [u for u, r in rows.items() if len(r) >= 10]
    held_out = {}
    for user in rng.choice(eligible, VALID_USERS, replace=False):
        shuffled = rng.permutation(rows[user])
        cut = len(shuffled) // 5
        held_out[int(user)] = sorted(int(i) for i in shuffled[:cut])
        rows[user] = sorted(int(i) for i in shuffled[cut:])
    batch = pd.DataFrame({"user_idx": rows.index, "item_idx": rows.values})
    batch["weight"] = batch["item_idx"].map(lambda x: [1.0] * len(x))
    packed = pack_rows(batch, max_items=100_000)
    for part in range(n_files):
        chunk = packed.iloc[part::n_files].reset_index(drop=True)
        pq.write_table(pa.Table.from_pandas(chunk), out / f"part-{part:03d}.parquet")
    (out / "valid").mkdir(exist_ok=True)
    valid = pd.DataFrame({"user_idx": list(held_out), "item_idx": list(held_out.values())})
    pq.write_table(pa.Table.from_pandas(valid), out / "valid" / "part-000.parquet")
    (out / "n_items").write_text(str(len(items)))
    categories, names = item_categories(items)
    (out / "item_categories.json").write_text(
        json.dumps({"item_categories": categories, "categories": names})
    )
    print(f"users={len(users)} items={len(items)} pairs={len(pairs)} files={n_files} out={out}")


if __name__ == "__main__":
    main()
