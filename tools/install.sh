#!/usr/bin/env bash
# Install the whole stack on a fresh machine (Python 3.10-3.12) and this project, idempotently:
#   torch 2.14.1 + torchvision 0.29.1, mmcv 2.1.0 built from its PyPI sdist WITH compiled ops
#   (CPU ops; CUDA ops too when a GPU and nvcc are present, or with FORCE_CUDA=1), mmengine, mmdet,
#   mmsegmentation, timm and the rest of requirements.txt, then this repo as an editable package.
# A second run rebuilds nothing: the mmcv wheel is kept in $CNV2_WHEEL_CACHE
# (default ~/.cache/convnextv2-toolkit/wheels), keyed by Python, torch and CPU/CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PIP_ROOT_USER_ACTION=ignore
PIP=("$PY" -m pip --disable-pip-version-check)
TORCH=2.14.1 TORCHVISION=0.29.1 MMCV=2.1.0
CACHE=${CNV2_WHEEL_CACHE:-$HOME/.cache/convnextv2-toolkit/wheels}
say() { echo "[install] $*"; }
start=$(date +%s)

# 1. torch (this machine's disk holds 2.14.1; elsewhere pip downloads it)
if ! "$PY" -c "import torch, torchvision, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH')" 2>/dev/null; then
  say "installing torch $TORCH, torchvision $TORCHVISION"
  "${PIP[@]}" install -q "torch==$TORCH" "torchvision==$TORCHVISION"
fi
torch_tag=$("$PY" -c "import torch; print(torch.__version__.replace('+', '_'))")

# 2. mmcv 2.1.0 with compiled ops, built once per (python, torch, cpu|cuda) and cached as a wheel
if [ "${FORCE_CUDA:-0}" = 1 ] || { command -v nvcc >/dev/null && "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; }; then
  ops=cuda; export FORCE_CUDA=1
else
  ops=cpu
fi
py_tag=$("$PY" -c "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')")
wheel_dir="$CACHE/mmcv-$MMCV-$py_tag-torch$torch_tag-$ops"
have_mmcv() {
  "$PY" - <<PYEOF 2>/dev/null
import mmcv, mmcv.ops, torch, sys
ok = mmcv.__version__ == '$MMCV' and (torch.cuda.is_available() or '$ops' == 'cpu' or mmcv.ops.get_compiling_cuda_version() != 'not available')
sys.exit(0 if ok else 1)
PYEOF
}
if have_mmcv; then
  say "mmcv $MMCV with compiled ops already installed"
else
  if [ -z "$(ls "$wheel_dir"/mmcv-*.whl 2>/dev/null)" ]; then
    say "building mmcv $MMCV ($ops ops) from its sdist: about 12-25 min on 2 cores, once"
    build=$(mktemp -d)
    trap 'rm -rf "$build"' EXIT
    # the sdist's setup.py imports pkg_resources: build with setuptools < 70 on the side
    "${PIP[@]}" install -q --no-warn-conflicts --target "$build/tools" "setuptools<70" wheel ninja
    echo 'setuptools<70' > "$build/constraint.txt"
    PIP_CONSTRAINT="$build/constraint.txt" "${PIP[@]}" download -q --no-deps --no-binary :all: \
      -d "$build" "mmcv==$MMCV"
    tar xzf "$build/mmcv-$MMCV.tar.gz" -C "$build"
    # torch >= 2.10 headers need C++20; mmcv's setup.py forces -std=c++17
    sed -i 's/-std=c++17/-std=c++20/g' "$build/mmcv-$MMCV/setup.py"
    mkdir -p "$wheel_dir"
    (cd "$build/mmcv-$MMCV" && PATH="$build/tools/bin:$PATH" PYTHONPATH="$build/tools" \
      MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      "${PIP[@]}" wheel -q --no-build-isolation --no-deps -w "$wheel_dir" .)
  fi
  say "installing $(basename "$(ls "$wheel_dir"/mmcv-*.whl)")"
  "${PIP[@]}" install -q --no-deps --force-reinstall "$wheel_dir"/mmcv-*.whl
fi

# 3. everything else, pinned (mmcv is satisfied by the wheel above)
"${PIP[@]}" install -q --find-links "$wheel_dir" -r requirements.txt
# 4. this project, importable from anywhere; its modules register themselves in mmdet/mmseg
"${PIP[@]}" install -q --no-deps --no-build-isolation -e .
"$PY" -c "import mmcv.ops, mmdet, mmseg, backbones; print('[install] ok: torch', __import__('torch').__version__, '| mmcv', mmcv.__version__, '| mmdet', mmdet.__version__, '| mmseg', mmseg.__version__)"
say "done in $(( $(date +%s) - start )) s"
