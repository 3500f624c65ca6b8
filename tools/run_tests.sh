#!/usr/bin/env bash
# The test command of the README and of CI: make sure the stack is installed (a no-op when it is;
# the first run on a fresh machine builds mmcv once), then run the whole suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
bash tools/install.sh
# the peers the checkpoint tests build their fixtures with (test-only), installed when a pin is missing
if ! "$PY" - 2>/dev/null <<'PYEOF'
import importlib.metadata as md, sys
pins = [line.split('#')[0].strip().split('==') for line in open('requirements-test.txt')]
sys.exit(any(pin != [''] and md.version(pin[0]) != pin[1] for pin in pins))
PYEOF
then
  "$PY" -m pip install -q --disable-pip-version-check -r requirements-test.txt
fi
# mmpretrain in a folder of its own (requirements-test-mmpretrain.txt says why), once
PEERS=${CNV2_TEST_PEERS:-$HOME/.cache/convnextv2-toolkit/test-peers/mmpretrain-1.2.0}
if [ ! -f "$PEERS/.complete" ]; then
  rm -rf "$PEERS.partial"
  "$PY" -m pip install -q --disable-pip-version-check --no-deps --target "$PEERS.partial" \
    -r requirements-test-mmpretrain.txt
  touch "$PEERS.partial/.complete" && rm -rf "$PEERS" && mv "$PEERS.partial" "$PEERS"
fi
if "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('mmpretrain') is None)"; then
  echo "run_tests: mmpretrain is installed in this environment; beside transformers 5 it breaks" \
       "mmdet.models - pip uninstall mmpretrain (the tests use their own copy in $PEERS)" >&2
  exit 1
fi
exec "$PY" -m pytest -q -p no:cacheprovider --durations=15 tests "$@"
