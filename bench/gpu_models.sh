#!/usr/bin/env bash
# GPU check of every interaction model through the production train_fn under plain torchrun
# (nccl, Arrow loader, no Spark): multvae, cvae and gan at 68,509 items, batch 1024, with
# validation NDCG@100 on 1,000 held-out households after each epoch (best epoch kept).
# Needs .gpu/data from `python bench/prepare_gpu_data.py .gpu/data`. Figures: history_*.json.
set -euo pipefail
source "$(dirname "$0")/gpu_env.sh"
for model in multvae cvae gan; do
  python3 - "$OUT" "$model" <<'PY'
import glob, json, os, sys
out, model = sys.argv[1], sys.argv[2]
data = os.path.abspath(".gpu/data")
files = sorted(glob.glob(f"{data}/*.parquet"))
params = {"n_items": int(open(f"{data}/n_items").read())}
if model in ("multvae", "cvae"):
    params |= {"hidden_dims": [600, 200], "dropout": 0.5, "beta_cap": 0.2, "anneal_steps": 200}
if model in ("cvae", "gan"):
    params |= json.load(open(f"{data}/item_categories.json"))
spec = {
    "model": model, "params": params, "files": files, "loader": "arrow", "batch_size": 1024,
    "epochs": 3, "steps_per_epoch": 100, "learning_rate": 1e-3, "weight_decay": 0.0,
    "seed": 42, "use_gpu": True, "allow_tf32": True, "output_dir": f"/tmp/samplegen-gpu-{model}",
    "validation": {"view_files": files, "valid_files": sorted(glob.glob(f"{data}/valid/*.parquet")),
                   "max_users": 1000, "k": 100},
}
json.dump(spec, open(f"{out}/spec_{model}.json", "w"), indent=1)
PY
  started=$(date +%s.%N)
  torchrun --nproc_per_node=1 -m samplegen.train.distributed --spec "$OUT/spec_$model.json" \
    2>&1 | tee "$OUT/train_$model.log"
  echo "model=$model wall_s=$(python3 -c "import time; print(round(time.time() - $started, 1))")"
  cp "/tmp/samplegen-gpu-$model/history.json" "$OUT/history_$model.json"
done
