"""Run many bad-input cases against the tools cheaply, and judge them the way a user would see them.

A case is ``Case(name, argv, watch)``: ``argv`` is what follows ``python`` (``['tools/train.py',
CONFIG, ...]``; the tool path is taken from the repository root, everything else is passed as is)
and ``watch`` the files and folders that must not change. A case passes when the command

- exits with a non-zero status,
- prints at most ``max_lines`` non-empty lines, stdout and stderr together, counted at the file
  descriptors (so C-level writes, logging and warnings count too),
- contains every string of ``expect`` (case-insensitive: the problem and the fix it names),
- ends within ``max_seconds`` (nothing trained),
- leaves every watched path as it was: the same files with the same SHA-256, no file or folder added
  or removed (a work dir, an output or a lock created counts), and also the case's working
  directory (``workspace``), where default work dirs (``./work_dirs/<config>``) would appear.

Importing mmdet takes seconds, so the cases run in one worker interpreter (per ``workers``) that
starts each tool the way ``python tools/X.py`` does: ``runpy.run_path(tool, run_name='__main__')``
with the tool's folder first on ``sys.path``, ``sys.argv`` set, fd 1 and 2 redirected to a file,
warnings re-armed, signal handlers, environment and working directory restored after each case.
Output that only a fresh interpreter prints (at import time) is seen by ``real=`` cases: those run
again as real subprocesses, and ``run_cases`` reports where the two disagree (exit status or lines).
"""
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@dataclass
class Case:
    name: str
    argv: list                  # ['tools/X.py', arg, ...]
    watch: list = field(default_factory=list)   # files / folders that must stay as they were
    expect: list = field(default_factory=list)  # strings the output must contain (case-insensitive)
    env: dict = field(default_factory=dict)     # extra environment variables for this case
    max_lines: int = 3
    max_seconds: float = 5.0    # in the worker (imports already done)


@dataclass
class Result:
    name: str
    code: object                # exit status, or 'timeout' / 'worker died'
    output: str
    seconds: float
    changed: list               # watched paths added, removed or modified
    real: dict = None           # the same case as a real subprocess: {code, output, seconds}
    problems: list = field(default_factory=list)


def tree_state(path):
    """{path: sha256 | 'dir' | 'absent'} of ``path`` and everything under it."""
    if osp.isfile(path):
        with open(path, 'rb') as f:
            return {path: hashlib.sha256(f.read()).hexdigest()}
    if not osp.isdir(path):
        return {path: 'absent'}
    state = {path: 'dir'}
    for base, dirs, files in os.walk(path):
        for name in dirs:
            state[osp.join(base, name)] = 'dir'
        for name in files:
            full = osp.join(base, name)
            try:
                with open(full, 'rb') as f:
                    state[full] = hashlib.sha256(f.read()).hexdigest()
            except OSError as err:   # unreadable on purpose (a test's chmod 000): its mode counts
                state[full] = f'unreadable {os.stat(full).st_mode:o} {type(err).__name__}'
    return state


def watched_state(paths):
    state = {}
    for path in paths:
        state.update(tree_state(path))
    return state


def differences(before, after):
    out = []
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path, 'absent'), after.get(path, 'absent')
        if old != new:
            what = ('created' if old == 'absent' else 'removed' if new == 'absent' else 'changed')
            out.append(f'{what}: {path}')
    return out


def screen_lines(text):
    return [line for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------- the worker (a separate interpreter)

def _exit_code(stop):
    """What ``python tools/X.py`` returns for ``sys.exit(value)`` (a message goes to stderr)."""
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code
    print(stop.code, file=sys.stderr)
    return 1


class _CaseTimeout(BaseException):
    pass


def _run_in_worker(case, workspace, capture):
    import runpy
    import signal
    import traceback
    import warnings

    tool = osp.join(REPO, case['argv'][0])
    saved = dict(argv=sys.argv[:], path=sys.path[:], cwd=os.getcwd(), env=dict(os.environ),
                 signals={s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)})
    for module in list(sys.modules.values()):   # warnings fire again, as in a fresh interpreter
        registry = getattr(module, '__warningregistry__', None)
        if isinstance(registry, dict):
            registry.clear()
    warnings.filters[:] = list(saved_filters)   # as the interpreter started them
    warnings._filters_mutated()
    keep = _screen_to(capture)

    def too_long(*_):
        raise _CaseTimeout()

    signal.signal(signal.SIGALRM, too_long)
    start = time.monotonic()
    try:
        os.chdir(workspace)
        os.environ.update(case['env'])
        sys.argv = [tool, *case['argv'][1:]]
        sys.path[0] = osp.dirname(tool)
        signal.alarm(max(1, int(case['max_seconds'] * 4)))
        runpy.run_path(tool, run_name='__main__')
        code = 0
    except SystemExit as stop:
        code = _exit_code(stop)
    except _CaseTimeout:
        code = 'timeout'
    except BaseException as err:   # as the interpreter would: the traceback on stderr, status 1
        frames = err.__traceback__
        while frames is not None and frames.tb_frame.f_code.co_filename != tool:
            frames = frames.tb_next   # the worker's and runpy's frames are not the tool's
        traceback.print_exception(type(err), err, frames or err.__traceback__)
        code = 1
    finally:
        signal.alarm(0)
        seconds = time.monotonic() - start
        _screen_back(keep)
        sys.argv, sys.path[:] = saved['argv'], saved['path']
        os.chdir(saved['cwd'])
        os.environ.clear()
        os.environ.update(saved['env'])
        for sig, handler in saved['signals'].items():
            signal.signal(sig, handler)
    with open(capture, errors='replace') as f:
        output = f.read()
    return code, output, seconds


saved_filters = []


def _import_once(tool, capture):
    """Run a tool's module body (its imports) without ``main()``: the cases' times then measure
    the tool's own work, not the first import of mmdet (the real subprocesses include it)."""
    import runpy
    saved = sys.path[:]
    keep = _screen_to(capture)
    try:
        sys.path[0] = osp.dirname(tool)
        runpy.run_path(tool, run_name='__bad_input_import__')
    except BaseException:   # noqa: BLE001  (a tool that fails to import fails its cases instead)
        pass
    finally:
        _screen_back(keep)
        sys.path[:] = saved


def _screen_to(capture):
    """Point fd 1 and 2 at ``capture`` (emptied); returns the saved descriptors."""
    sys.stdout.flush()
    sys.stderr.flush()
    keep = os.dup(1), os.dup(2)
    fd = os.open(capture, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    return keep


def _screen_back(keep):
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, saved in zip((1, 2), keep):
        os.dup2(saved, fd)
        os.close(saved)


def worker_main(cases_file, results_file, workspace):
    """Run the cases of ``cases_file`` one by one; a JSON line per case in ``results_file``."""
    import warnings
    saved_filters[:] = list(warnings.filters)
    with open(cases_file) as f:
        cases = json.load(f)
    capture = osp.join(tempfile.mkdtemp(prefix='bad_input_capture_'), 'screen.txt')
    for tool in sorted({osp.join(REPO, case['argv'][0]) for case in cases}):
        with open(tool) as f:
            guarded = "if __name__ == '__main__':" in f.read()
        if guarded:   # a script without the guard would do its work here
            _import_once(tool, capture)
    for case in cases:
        watch = case['watch'] + [workspace]
        before = watched_state(watch)
        code, output, seconds = _run_in_worker(case, workspace, capture)
        changed = differences(before, watched_state(watch))
        with open(results_file, 'a') as f:
            f.write(json.dumps(dict(name=case['name'], code=code, output=output,
                                    seconds=seconds, changed=changed)) + '\n')


# ---------------------------------------------------------------- the caller's side

def _run_real(case, workspace, timeout):
    start = time.monotonic()
    before = watched_state(case.watch + [workspace])
    try:
        done = subprocess.run([sys.executable, osp.join(REPO, case.argv[0]), *case.argv[1:]],
                              cwd=workspace, env={**os.environ, **case.env}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors='replace', timeout=timeout)
        code, output = done.returncode, done.stdout
    except subprocess.TimeoutExpired as err:
        code, output = 'timeout', (err.stdout or b'').decode(errors='replace')
    changed = differences(before, watched_state(case.watch + [workspace]))
    return dict(code=code, output=output, seconds=time.monotonic() - start, changed=changed)


def judge(case, result, real_seconds=60.0):
    """The problems of one result (empty when the case passed)."""
    problems = []
    for label, run in (('', asdict(result)), ('real subprocess: ', result.real)):
        if run is None:
            continue
        lines = screen_lines(run['output'])
        if run['code'] == 0:
            problems.append(f'{label}exit status 0')
        if run['code'] in ('timeout', 'worker died'):
            problems.append(f'{label}{run["code"]}')
        if len(lines) > case.max_lines:
            problems.append(f'{label}{len(lines)} lines on the screen (at most {case.max_lines})')
        missing = [s for s in case.expect if s.lower() not in run['output'].lower()]
        if missing:
            problems.append(f'{label}the output does not name {missing}')
        limit = case.max_seconds if not label else real_seconds
        if run['seconds'] > limit:
            problems.append(f'{label}took {run["seconds"]:.1f} s (at most {limit:g})')
        problems += [f'{label}{c}' for c in run['changed']]
    if result.real is not None:
        same_code = (result.real['code'] == result.code)
        same_lines = sorted(screen_lines(result.real['output'])) == sorted(screen_lines(result.output))
        if not (same_code and same_lines):
            problems.append('the worker and a real subprocess disagree')
    return problems


def run_cases(cases, workspace, real=(), workers=1, timeout=600, real_seconds=60.0):
    """Run ``cases`` (in ``workers`` interpreters), those named in ``real`` also as subprocesses;
    returns ``[Result]`` with ``problems`` filled in, in the order of ``cases``."""
    names = [c.name for c in cases]
    assert len(set(names)) == len(names), 'case names must be unique'
    os.makedirs(workspace, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix='bad_input_harness_')
    chunks = [cases[i::workers] for i in range(workers)]
    procs = []
    for i, chunk in enumerate(chunks):
        cases_file, results_file = osp.join(scratch, f'cases{i}.json'), osp.join(scratch, f'results{i}.jsonl')
        with open(cases_file, 'w') as f:
            json.dump([asdict(c) for c in chunk], f)
        log = open(osp.join(scratch, f'worker{i}.log'), 'w')
        procs.append((subprocess.Popen(
            [sys.executable, osp.abspath(__file__), '--worker', cases_file, results_file, workspace],
            cwd=workspace, stdout=log, stderr=subprocess.STDOUT), results_file, log))
    deadline = time.monotonic() + timeout
    for proc, _, log in procs:
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        log.close()
    found = {}
    for _, results_file, _ in procs:
        if osp.isfile(results_file):
            with open(results_file) as f:
                for line in f:
                    row = json.loads(line)
                    found[row['name']] = Result(**row)
    by_name = {c.name: c for c in cases}
    results = []
    for case in cases:
        result = found.get(case.name) or Result(case.name, 'worker died', '', 0.0, [])
        if case.name in real:
            result.real = _run_real(case, workspace, timeout=real_seconds * 2)
        result.problems = judge(by_name[case.name], result, real_seconds)
        results.append(result)
    unknown = set(real) - set(names)
    assert not unknown, f'real= names no case: {sorted(unknown)}'
    return results


def report(results):
    """A readable account of the failed cases ('' when all passed)."""
    out = []
    for r in results:
        if r.problems:
            shown = '\n      '.join(r.output.strip().splitlines()[-8:])
            out.append(f'{r.name}: {"; ".join(r.problems)}\n      {shown}')
    return '\n'.join(out)


if __name__ == '__main__' and len(sys.argv) == 5 and sys.argv[1] == '--worker':
    worker_main(*sys.argv[2:])
