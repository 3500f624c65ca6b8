#!/usr/bin/env bash
# Install the whole stack on a fresh machine (Python 3.10-3.12) and this project, idempotently:
#   torch 2.14.1 + torchvision 0.29.1, mmcv 2.1.0 built from its PyPI sdist with the compiled ops
#   the toolkit's models call (tools/build_mmcv.py; CNV2_MMCV_OPS=all builds every op), as CPU ops
#   and CUDA ops too when a GPU and nvcc are present or FORCE_CUDA=1, then mmengine, mmdet,
#   mmsegmentation, timm and the rest of requirements.txt, and this repo as an editable package.
# A second run rebuilds nothing: the mmcv wheel is kept in $CNV2_WHEEL_CACHE
# (default ~/.cache/convnextv2-toolkit/wheels), keyed by Python, torch, CPU/CUDA and the op set;
# an installed mmcv built with another op set is replaced.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PIP_ROOT_USER_ACTION=ignore
PIP=("$PY" -m pip --disable-pip-version-check)
TORCH=2.14.1 TORCHVISION=0.29.1 MMCV=2.1.0
CACHE=${CNV2_WHEEL_CACHE:-$HOME/.cache/convnextv2-toolkit/wheels}
start=$(date +%s)
say() { echo "[install] $(( $(date +%s) - start )) s: $*"; }
# which mmcv ops to compile: 'default', the toolkit's (tools/build_mmcv.py's table), or 'all'
op_set=${CNV2_MMCV_OPS:-default}
case "$op_set" in default|all) ;; *)
  echo "[install] error: CNV2_MMCV_OPS=$op_set; use 'default' (the toolkit's ops) or 'all'" >&2; exit 2;;
esac

# 1. torch (this machine's disk holds 2.14.1; elsewhere pip downloads it)
if ! "$PY" -c "import torch, torchvision, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH')" 2>/dev/null; then
  say "installing torch $TORCH, torchvision $TORCHVISION"
  "${PIP[@]}" install -q "torch==$TORCH" "torchvision==$TORCHVISION"
fi
torch_tag=$("$PY" -c "import torch; print(torch.__version__.replace('+', '_'))")

# 2. mmcv 2.1.0 with compiled ops, built once per (python, torch, cpu|cuda, op set), cached as a wheel
if [ "${FORCE_CUDA:-0}" = 1 ] || { command -v nvcc >/dev/null && "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; }; then
  ops=cuda; export FORCE_CUDA=1
else
  ops=cpu
fi
py_tag=$("$PY" -c "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')")
wheel_dir="$CACHE/mmcv-$MMCV-$py_tag-torch$torch_tag-$ops-$op_set"
# a build of tools/build_mmcv.py names its op set in mmcv._ext.cnv2_op_set(); a full one has none
have_mmcv() {
  "$PY" - <<PYEOF 2>/dev/null
import mmcv, mmcv.ops, torch, sys
from mmcv import _ext
ok = mmcv.__version__ == '$MMCV' and (torch.cuda.is_available() or '$ops' == 'cpu' or mmcv.ops.get_compiling_cuda_version() != 'not available')
ok = ok and getattr(_ext, 'cnv2_op_set', lambda: 'all')() == '$op_set'
sys.exit(0 if ok else 1)
PYEOF
}
if have_mmcv; then
  say "mmcv $MMCV with compiled ops ($op_set op set) already installed"
else
  if [ -z "$(ls "$wheel_dir"/mmcv-*.whl 2>/dev/null)" ]; then
    say "building mmcv $MMCV ($ops, $op_set op set) from its sdist, once: about 2 min on 2 cores" \
      "(all ops: 10+ min)"
    build=$(mktemp -d)
    trap 'rm -rf "$build"' EXIT
    # the sdist's setup.py imports pkg_resources: build with setuptools < 70 on the side
    "${PIP[@]}" install -q --no-warn-conflicts --target "$build/tools" "setuptools<70" wheel ninja
    echo 'setuptools<70' > "$build/constraint.txt"
    PIP_CONSTRAINT="$build/constraint.txt" "${PIP[@]}" download -q --no-deps --no-binary :all: \
      -d "$build" "mmcv==$MMCV"
    say "compiling mmcv's ops"
    PATH="$build/tools/bin:$PATH" PYTHONPATH="$build/tools" MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      "$PY" tools/build_mmcv.py "$build/mmcv-$MMCV.tar.gz" --out "$wheel_dir" --ops "$op_set"
  fi
  say "installing $(basename "$(ls "$wheel_dir"/mmcv-*.whl)") ($op_set op set)"
  "${PIP[@]}" install -q --no-deps --force-reinstall "$wheel_dir"/mmcv-*.whl
fi

# 3. everything else, pinned (mmcv is satisfied by the wheel above)
say "installing the rest of requirements.txt and this package"
"${PIP[@]}" install -q --find-links "$wheel_dir" -r requirements.txt
# 4. this project, importable from anywhere; its modules register themselves in mmdet/mmseg
"${PIP[@]}" install -q --no-deps --no-build-isolation -e .
"$PY" -c "import mmcv.ops, mmdet, mmseg, backbones; print('[install] ok: torch', __import__('torch').__version__, '| mmcv', mmcv.__version__, '| mmdet', mmdet.__version__, '| mmseg', mmseg.__version__)"
say "done"
