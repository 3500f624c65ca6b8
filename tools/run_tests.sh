#!/usr/bin/env bash
# The test command of the README and of CI: make sure the stack is installed (a no-op when it is;
# the first run on a fresh machine builds mmcv once), then run the whole suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
exec "${PYTHON:-python3}" -m pytest -q -p no:cacheprovider --durations=15 tests "$@"
