"""One grammar for the commands: every example in a tool's --help, the README and docs/ parses
with that tool's own options; outputs are written with --out (never a positional OUT, except the
old spellings kept one more release); --format speaks one vocabulary; old spellings still work
with a FutureWarning."""
import ast
import glob
import json
import os
import re
import shlex
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(REPO, 'tools')
COMMAND = re.compile(r'^\s*(?:[A-Z_]+=\S+\s+)*(?:python3?|torchrun(?:\s+--\S+(?:\s+\w+)?)*)\s+'
                     r'(tools/\w+\.py)(.*)$')
# synopsis placeholders whose tool checks them against a list
PLACEHOLDERS = {'SIZE': 'tiny', 'KIND': 'in1k', 'N': '2'}


def tool_docstring(name):
    return ast.get_docstring(ast.parse(open(os.path.join(REPO, name)).read())) or ''


def joined_lines(text):
    """Lines with their backslash continuations joined."""
    return re.sub(r'\\\n\s*', ' ', text).split('\n')


def examples(text, where):
    """``(where, tool, argv)`` of every ``python tools/X.py ...`` line of ``text``: comments cut,
    optional ``[...]`` kept, the first of ``a|b`` alternatives, ``...`` repetitions dropped."""
    found = []
    for line in joined_lines(text):
        match = COMMAND.match(line.strip().strip('`'))
        if not match:
            continue
        tool, rest = match.groups()
        rest = rest.split(' #')[0].replace('[', ' ').replace(']', ' ')
        argv = []
        for token in shlex.split(rest):
            if token in ('...', '\\'):
                continue
            token = token.split('|')[0] if token.startswith('-') or '|' in token else token
            argv.append(PLACEHOLDERS.get(token, token))
        found.append((where, tool, argv))
    return found


def all_examples():
    found = []
    for path in sorted(glob.glob(os.path.join(TOOLS, '*.py'))):
        rel = os.path.relpath(path, REPO)
        found += examples(tool_docstring(rel), f'{rel} --help')
    for page in ['README.md'] + sorted(glob.glob(os.path.join(REPO, 'docs', '*.md'))):
        rel = os.path.relpath(page, REPO)
        found += examples(open(os.path.join(REPO, rel)).read(), rel)
    return found


PARSE_ONLY = r"""
import argparse, contextlib, io, json, runpy, sys
class Parsed(Exception):
    pass
original = argparse.ArgumentParser.parse_args
def parse_only(self, args=None, namespace=None):
    original(self, args, namespace)
    raise Parsed()
argparse.ArgumentParser.parse_args = parse_only
results = []
for where, tool, argv in json.loads(sys.stdin.read()):
    sys.argv = [tool, *argv]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            runpy.run_path(tool, run_name='__main__')
        outcome = 'ran without parsing its arguments'
    except Parsed:
        outcome = 'ok'
    except SystemExit as stop:
        outcome = f'exit {stop.code}: ' + err.getvalue().strip().splitlines()[-1:][0] if err.getvalue().strip() else f'exit {stop.code}'
    except BaseException as error:
        outcome = f'{type(error).__name__}: {error}'
    results.append([where, tool, argv, outcome])
print(json.dumps(results))
"""


def test_every_example_command_parses_with_its_tool():
    """Each example of the tools' help, the README and docs/ names options its tool has."""
    cases = all_examples()
    assert len(cases) >= 40, f'only {len(cases)} example commands found: the pattern broke'
    done = subprocess.run([sys.executable, '-c', PARSE_ONLY], input=json.dumps(cases),
                          capture_output=True, text=True, timeout=600, cwd=REPO,
                          env={**os.environ, 'PYTHONPATH': REPO})
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    broken = [f'{where}: {tool} {" ".join(argv)} -> {outcome}'
              for where, tool, argv, outcome in results if outcome != 'ok']
    assert not broken, '\n'.join(broken)


def test_the_example_finder_reads_synopses():
    text = ('    python tools/x.py IN --out OUT [--format backbone|mmdet] [--force]  # note\n'
            '    torchrun --nproc_per_node 8 tools/y.py CONFIG --launcher pytorch\n'
            '    python tools/z.py a \\\n        --cfg-options k=v ...\n')
    assert examples(text, 'here') == [
        ('here', 'tools/x.py', ['IN', '--out', 'OUT', '--format', 'backbone', '--force']),
        ('here', 'tools/y.py', ['CONFIG', '--launcher', 'pytorch']),
        ('here', 'tools/z.py', ['a', '--cfg-options', 'k=v'])]


def positional_names(path):
    """The dests of ``add_argument('name', ...)`` calls (positional arguments) in a tool."""
    names = []
    for node in ast.walk(ast.parse(open(path).read())):
        if (isinstance(node, ast.Call) and getattr(node.func, 'attr', None) == 'add_argument'
                and node.args and isinstance(node.args[0], ast.Constant)
                and not str(node.args[0].value).startswith('-')):
            names.append(node.args[0].value)
    return names


def is_old_spelling(path):
    return tool_docstring(os.path.relpath(path, REPO)).startswith('Old spelling')


def test_outputs_are_written_with_out_never_a_positional():
    offenders = [f'{os.path.basename(path)}: positional {name!r}'
                 for path in glob.glob(os.path.join(TOOLS, '*.py')) if not is_old_spelling(path)
                 for name in positional_names(path)
                 if re.fullmatch(r'out(put)?(_dir|_file)?', name)]   # old_out: a deprecated spelling
    assert not offenders, offenders


def test_format_options_share_one_vocabulary():
    """Every --format lists its choices from the one FORMATS table of the checkpoint package."""
    for path in glob.glob(os.path.join(TOOLS, '*.py')):
        text = open(path).read()
        for match in re.finditer(r"add_argument\('--(format|convert)'[^)]*choices=([\w.]+)", text):
            assert match.group(2).endswith('FORMATS'), f'{path}: --{match.group(1)} lists its own choices'


def test_old_out_dir_spelling_of_analyze_features_warns_and_still_works():
    from tools import analyze_features
    with pytest.warns(FutureWarning, match='--out-dir is renamed --out'):
        args = analyze_features.parse_args(['a.pth', '--images', 'imgs', '--out-dir', 'old'])
    assert args.out == 'old'
    assert analyze_features.parse_args(['a.pth', '--images', 'imgs', '--out', 'new']).out == 'new'
