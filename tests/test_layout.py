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
OURS = {'engine', 'backbones', 'pretrain', 'finetune', 'downstream', 'analysis', 'reports', 'tools',
        'tests'}
# package -> the packages of ours it may import (lower layers only)
ALLOWED = {
    'engine': set(),
    'backbones': {'engine'},
    'pretrain': {'engine', 'backbones'},
    'finetune': {'engine', 'backbones'},
    'downstream': {'engine', 'backbones'},
    'analysis': {'engine', 'backbones'},
    # the top floor: reports on the project (recipe page, benchmarks, job runners); may run tools/
    'reports': {'engine', 'backbones', 'pretrain', 'finetune', 'downstream', 'analysis'},
}
TOP_FLOOR = 'reports'
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


PACKAGES = sorted(ALLOWED)


def module_file(name):
    """The file of module ``a.b.c`` in this repo (``a/b/c.py`` or ``a/b/c/__init__.py``), or None."""
    base = os.path.join(REPO, *name.split('.'))
    for path in (base + '.py', os.path.join(base, '__init__.py')):
        if os.path.isfile(path):
            return path
    return None


def own_module_name(path):
    rel = os.path.relpath(path, REPO)[:-len('.py')].split(os.sep)
    return '.'.join(rel[:-1] if rel[-1] == '__init__' else rel), rel[-1] == '__init__'


def imported_files(path):
    """The files of ours that ``path`` imports, anywhere in it (inside functions too); relative
    imports resolved, ``from pkg import sub`` pointing at the submodule's file."""
    name, is_package = own_module_name(path)
    package = name if is_package else name.rpartition('.')[0]
    found = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split('.') if package else []
                parts = parts[:len(parts) - (node.level - 1)]
                base = '.'.join(parts + ([node.module] if node.module else []))
            else:
                base = node.module
            targets = [f'{base}.{alias.name}' if module_file(f'{base}.{alias.name}') else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            if target and target.split('.')[0] in OURS and module_file(target):
                found.add(module_file(target))
    found.discard(path)
    return found


def import_graph():
    files = [p for folder in sorted(OURS) for p in python_files(folder) if not is_config(p)]
    return {os.path.relpath(p, REPO): sorted(os.path.relpath(f, REPO) for f in imported_files(p))
            for p in files}


def find_cycle(graph):
    """One import cycle as a list of files (the first repeated at the end), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 'open':
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 'done'
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycles_between_files():
    """Files import top-down: no file reaches itself through imports, not even through one made
    inside a function (which only hides the circle until someone moves it to the top)."""
    cycle = find_cycle(import_graph())
    assert cycle is None, 'import cycle: ' + ' -> '.join(cycle)


def test_the_cycle_check_sees_a_cycle_inside_functions():
    assert find_cycle({'a.py': ['b.py'], 'b.py': ['c.py'], 'c.py': ['a.py']}) == \
        ['a.py', 'b.py', 'c.py', 'a.py']
    assert find_cycle({'a.py': ['b.py'], 'b.py': []}) is None


def tools_references(path):
    """How a package file reaches into tools/: importing it, a string that is a path into it
    (``'tools'``, ``'tools/x.py'``; prose that mentions a command is fine), or ``run_tool``."""
    found = []
    if 'tools' in set(imported_roots(path)):
        found.append('imports tools')
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value.strip()
            if value == 'tools' or (value.startswith('tools/') and ' ' not in value):
                found.append(f'line {node.lineno}: path {value!r}')
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, 'attr', None)
            if called == 'run_tool':
                found.append(f'line {node.lineno}: runs a tools/ script (run_tool)')
    return found


def test_no_package_reaches_into_tools():
    """Only the top floor runs commands; every package below it works without tools/."""
    offenders = [f'{os.path.relpath(path, REPO)} {how}'
                 for package in PACKAGES if package != TOP_FLOOR for path in python_files(package) if not is_config(path)
                 for how in tools_references(path)]
    assert not offenders, offenders


def test_the_tools_check_sees_a_path_and_a_run_tool_call(tmp_path):
    sample = tmp_path / 'sample.py'
    sample.write_text("import os\nTOOLS = os.path.join('x', 'tools')\nrun_tool('train.py')\n")
    found = tools_references(str(sample))
    assert any("'tools'" in how for how in found) and any('run_tool' in how for how in found)
