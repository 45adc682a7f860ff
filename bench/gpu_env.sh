# Shared set-up of the GPU scripts (sourced, not run): strict mode, the repo on PYTHONPATH,
# the output folder $OUT, and the machine's GPU and library versions in the log.
set -euo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/samplegen-gpu}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, pyarrow, numpy; print('torch', torch.__version__, 'pyarrow', pyarrow.__version__, 'numpy', numpy.__version__)"
