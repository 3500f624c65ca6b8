"""The layout holds: packages import only lower layers, nothing imports tools/, every tool is a
command with a working --help, and no file edits sys.path."""
import ast
import glob
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS = {'engine', 'backbones', 'pretrain', 'finetune', 'downstream', 'analysis', 'benchmarks', 'tools', 'tests'}
# package -> the packages of ours it may import (lower layers only)
ALLOWED = {
    'engine': set(),
    'backbones': {'engine'},
    'pretrain': {'engine', 'backbones'},
    'finetune': {'engine', 'backbones'},
    'downstream': {'engine', 'backbones'},
    'analysis': {'engine', 'backbones'},
    'benchmarks': {'engine', 'backbones', 'pretrain', 'finetune', 'downstream'},
}
CONFIG_DIRS = ('det_configs', 'seg_configs', 'pretrain/configs', 'finetune/configs')
TOOLS = sorted(glob.glob(os.path.join(REPO, 'tools', '*.py')))


def imported_roots(path):
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split('.')[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split('.')[0]


def python_files(folder):
    return glob.glob(os.path.join(REPO, folder, '**', '*.py'), recursive=True)


def is_config(path):
    rel = os.path.relpath(path, REPO)
    return any(rel.startswith(d + os.sep) for d in CONFIG_DIRS)


@pytest.mark.parametrize('package', sorted(ALLOWED))
def test_packages_import_only_lower_layers(package):
    wrong = []
    for path in python_files(package):
        if is_config(path):
            continue
        for root in imported_roots(path):
            if root in OURS and root != package and root not in ALLOWED[package]:
                wrong.append(f'{os.path.relpath(path, REPO)} imports {root}')
    assert not wrong, wrong


def test_nothing_imports_tools_and_no_sys_path_edits():
    offenders = []
    for folder in list(ALLOWED) + ['det_configs', 'seg_configs', 'tools']:
        for path in python_files(folder):
            text = open(path).read()
            if 'tools' in set(imported_roots(path)):
                offenders.append(f'{os.path.relpath(path, REPO)} imports tools')
            if 'sys.path' in text:
                offenders.append(f'{os.path.relpath(path, REPO)} edits sys.path')
            if "'tools." in text or '"tools.' in text:
                offenders.append(f'{os.path.relpath(path, REPO)} names a tools module')
    assert not offenders, offenders
    assert not os.path.exists(os.path.join(REPO, 'tools', '__init__.py'))


def test_every_package_init_says_what_lives_there():
    for package in ALLOWED:
        tree = ast.parse(open(os.path.join(REPO, package, '__init__.py')).read())
        assert ast.get_docstring(tree), f'{package}/__init__.py has no docstring'


HELP_ALL = r"""
import contextlib, io, json, runpy, sys
results = {}
for tool in sys.argv[1:]:
    sys.argv = [tool, '--help']
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(tool, run_name='__main__')
        code = 'returned without printing help'
    except SystemExit as stop:
        code = stop.code or 0
    except BaseException as err:   # an import that fails, a tool that shadows a package
        code = f'{type(err).__name__}: {err}'
    results[tool] = [code, out.getvalue()[:200]]
print(json.dumps(results))
"""


def test_every_tool_is_a_command_with_help():
    """One interpreter for all tools, started as `python tools/X.py` would be: the tools folder
    first on sys.path, so a tool named like a package would shadow it and fail here."""
    for tool in TOOLS:
        tree = ast.parse(open(tool).read())
        assert any(isinstance(n, ast.FunctionDef) and n.name == 'main' for n in tree.body), \
            f'{tool} has no main()'
    tools_dir = os.path.join(REPO, 'tools')
    done = subprocess.run([sys.executable, '-c', f'import sys; sys.path.insert(0, {tools_dir!r}); '
                           f'exec({HELP_ALL!r})', *TOOLS], capture_output=True, text=True,
                          timeout=300, cwd='/')
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    broken = {os.path.basename(t): code for t, (code, text) in results.items()
              if code != 0 or 'usage:' not in text}
    assert not broken, broken
