#!/usr/bin/env bash
# The test command of the README and of CI: make sure the stack is installed (a no-op when it is;
# the first run on a fresh machine builds mmcv once), then run the whole suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
# the peers the checkpoint tests build their fixtures with (test-only), installed when a pin is missing
if ! "${PYTHON:-python3}" - 2>/dev/null <<'PYEOF'
import importlib.metadata as md, sys
pins = [line.split('#')[0].strip().split('==') for line in open('requirements-test.txt')]
sys.exit(any(pin != [''] and md.version(pin[0]) != pin[1] for pin in pins))
PYEOF
then
  "${PYTHON:-python3}" -m pip install -q --disable-pip-version-check -r requirements-test.txt
fi
exec "${PYTHON:-python3}" -m pytest -q -p no:cacheprovider --durations=15 tests "$@"
