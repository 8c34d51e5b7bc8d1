#!/usr/bin/env bash
# Multi-process training on one machine through torchrun + MMEngine's pytorch launcher:
#   tools/dist_train.sh CONFIG NPROC [extra tools/train.py args]
# Several machines: set NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT on each. Slurm: use
#   srun ... python tools/train.py CONFIG --launcher slurm
set -euo pipefail
CONFIG=$1
NPROC=$2
shift 2
HERE=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$HERE/.venv/bin/python}
[ -x "$PY" ] || PY=python
exec "$PY" -m torch.distributed.run \
  --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${MASTER_PORT:-29500}" \
  --nproc_per_node="$NPROC" \
  "$HERE/tools/train.py" "$CONFIG" --launcher pytorch "$@"
