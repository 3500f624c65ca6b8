"""Run a tools/ script in a fresh interpreter, as a user would type it; stop on failure or hang."""
import os.path as osp
import subprocess
import sys

TOOLS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools')


def run_tool(script, *args, timeout=3600):
    """Echo and run ``python tools/<script> args``; exit with one line naming it if it fails or
    runs past ``timeout`` seconds (a hung step must not eat a whole CI budget)."""
    command = [sys.executable, osp.join(TOOLS, script), *map(str, args)]
    print('$', ' '.join(command), flush=True)
    try:
        code = subprocess.run(command, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        sys.exit(f'tools/{script} ran past {timeout} s and was stopped; see its output above')
    if code:
        sys.exit(f'tools/{script} failed with exit code {code}; see its output above')
