"""Pack every completejourney household's basket over all 68,509 purchased products.

Writes the training-view layout (``user_idx``, ``n_items``, ``item_bytes``, ``weight_bytes``)
as Parquet files with pandas/pyarrow only, so the GPU benchmark can read it on a machine with
no Spark. Usage: ``python bench/prepare_gpu_data.py OUT_DIR [N_FILES]``.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from samplegen.data.completejourney import _data_dir
from samplegen.features.interactions import pack_rows


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
    batch = pd.DataFrame({"user_idx": rows.index, "item_idx": rows.values})
    batch["weight"] = batch["item_idx"].map(lambda x: [1.0] * len(x))
    packed = pack_rows(batch, max_items=100_000)
    for part in range(n_files):
        chunk = packed.iloc[part::n_files].reset_index(drop=True)
        pq.write_table(pa.Table.from_pandas(chunk), out / f"part-{part:03d}.parquet")
    (out / "n_items").write_text(str(len(items)))
    print(f"users={len(users)} items={len(items)} pairs={len(pairs)} files={n_files} out={out}")


if __name__ == "__main__":
    main()
