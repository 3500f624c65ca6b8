#!/usr/bin/env bash
# Train on GPUS processes of this machine, or of several machines with NNODES/NODE_RANK/MASTER_ADDR:
#   tools/dist_train.sh CONFIG GPUS [train.py options]
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 tools/dist_train.sh CONFIG 8   # on node 0, then node 1
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [tools/train.py options]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
shift 2
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec python -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" \
    --nproc_per_node="$GPUS" \
    "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "$@"
