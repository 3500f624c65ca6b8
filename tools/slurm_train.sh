#!/usr/bin/env bash
# Train under Slurm with srun, and requeue the job when it is preempted or reaches its time limit.
#
#   sbatch [sbatch options] tools/slurm_train.sh ENTRY CONFIG [WORK_DIR] [tool options...]
#     ENTRY: train (det/seg: tools/train.py) | finetune (tools/finetune_imagenet.py)
#            | pretrain (FCMAE: tools/pretrain_fcmae.py)
#   e.g. sbatch -p gpu -N 2 --gpus-per-node 8 --ntasks-per-node 8 --cpus-per-task 10 -t 24:00:00 \
#          tools/slurm_train.sh train det_configs/mask-rcnn_convnextv2-tiny_fpn_lsj-3x_coco.py
#
# Every start runs the tool with --resume (it starts fresh when the work dir has no checkpoint),
# so a requeued job continues from the last complete checkpoint. Slurm sends SIGUSR1 to this batch
# script 180 s before the time limit (--signal below) and SIGTERM on preemption: the script passes
# SIGTERM to the training tasks, which write a checkpoint at the next iteration and exit 0
# (engine/preemption.py), and then requeues the job (scontrol requeue). Give the job --requeue
# (or JobRequeue=1) so that Slurm may requeue it.
#SBATCH --job-name=convnextv2
#SBATCH --signal=B:USR1@180
#SBATCH --requeue
#SBATCH --open-mode=append
set -uo pipefail

if [ $# -lt 2 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  sed -n '2,/^#SBATCH/p' "$0" | grep -v '^#SBATCH'; [ $# -ge 1 ] && [[ "$1" = -h* || "$1" = --h* ]] && exit 0; exit 2
fi
ENTRY=$1 CONFIG=$2; shift 2
case "$ENTRY" in
  train) TOOL=tools/train.py ;;
  finetune) TOOL=tools/finetune_imagenet.py ;;
  pretrain) TOOL=tools/pretrain_fcmae.py ;;
  *) echo "error: ENTRY must be train, finetune or pretrain, not '$ENTRY'" >&2; exit 2 ;;
esac
WORK_DIR=work_dirs/$(basename "${CONFIG%.py}")
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then WORK_DIR=$1; shift; fi
cd "${SLURM_SUBMIT_DIR:-$(dirname "$0")/..}" || exit 1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

requeue=0
stop_training() {   # pass SIGTERM on to the tasks: they checkpoint at the next iteration, exit 0
  requeue=1
  echo "[slurm_train] signal received: checkpointing and requeueing job ${SLURM_JOB_ID:-?}"
  [ -n "${step_pid:-}" ] && kill -TERM "$step_pid" 2>/dev/null
}
trap stop_training USR1 TERM

echo "[slurm_train] job ${SLURM_JOB_ID:-?} restart ${SLURM_RESTART_COUNT:-0}: $TOOL $CONFIG -> $WORK_DIR"
srun --kill-on-bad-exit=1 python -u "$TOOL" "$CONFIG" --work-dir "$WORK_DIR" --launcher slurm \
  --resume "$@" &
step_pid=$!
while :; do   # wait returns early when a trapped signal arrives; wait again for the tasks
  wait "$step_pid"; code=$?
  kill -0 "$step_pid" 2>/dev/null || break
done
if [ "$code" -gt 128 ]; then   # 128+n may be the cut-short wait, not the tasks: ask once more
  wait "$step_pid" 2>/dev/null; status=$?
  [ "$status" -ne 127 ] && code=$status   # 127: already collected above, so 128+n was theirs
fi

if [ "$requeue" = 1 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
  scontrol requeue "$SLURM_JOB_ID" && echo "[slurm_train] requeued; the next start resumes"
fi
exit "$code"
