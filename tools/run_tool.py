"""Run another tools/ script in a fresh interpreter, as a user would type it; stop on failure."""
import os.path as osp
import subprocess
import sys

TOOLS = osp.dirname(osp.abspath(__file__))


def run_tool(script, *args):
    """Echo and run ``python tools/<script> args``; exit with one line naming it if it fails."""
    command = [sys.executable, osp.join(TOOLS, script), *map(str, args)]
    print('$', ' '.join(command), flush=True)
    code = subprocess.run(command).returncode
    if code:
        sys.exit(f'tools/{script} failed with exit code {code}; see its output above')
