#!/usr/bin/env bash
# The GPU check, run once on a CUDA machine with torch + pyarrow and no Spark (see bench/README.md):
# 1) loader vs in-memory Mult-VAE throughput at 68,509 items, batch 1024;
# 2) the production train_fn under plain torchrun with nccl, reading through the Arrow loader.
# Needs .gpu/data from `python bench/prepare_gpu_data.py .gpu/data`.
set -euo pipefail
source "$(dirname "$0")/gpu_env.sh"
torchrun --nproc_per_node=1 bench/gpu_multvae.py --data .gpu/data --batch-size 1024 \
  --steps 300 --warmup 30 --out "$OUT"
python3 - "$OUT" <<'PY'
import glob, json, os, sys
data = os.path.abspath(".gpu/data")
spec = {
    "model": "multvae",
    "params": {"n_items": int(open(f"{data}/n_items").read()), "hidden_dims": [600, 200],
               "dropout": 0.5, "beta_cap": 0.2, "anneal_steps": 200},
    "files": sorted(glob.glob(f"{data}/*.parquet")), "loader": "arrow", "batch_size": 1024,
    "epochs": 4, "steps_per_epoch": 200, "learning_rate": 1e-3, "weight_decay": 0.0,
    "seed": 42, "use_gpu": True, "allow_tf32": True, "output_dir": "/tmp/samplegen-gpu-model",
}
json.dump(spec, open(f"{sys.argv[1]}/spec.json", "w"), indent=1)
PY
torchrun --nproc_per_node=1 -m samplegen.train.distributed --spec "$OUT/spec.json"
ls -la /tmp/samplegen-gpu-model
