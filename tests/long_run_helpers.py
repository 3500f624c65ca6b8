"""Shared by the long-run tests: run a tool (with an injected fault), read what a run logged."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import torch

from engine.launch import REPO_ROOT

FAULT_RUNNER = osp.join(REPO_ROOT, 'tests', 'fault_injection.py')


def run_tool(tool, args, fault='', timeout=600, threads=1):
    """Run ``python tools/<tool> args`` in a fresh process (through tests/fault_injection.py when
    ``fault`` is set); return (exit code, stdout + stderr). A SIGKILLed run returns -9."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), FAULT=fault)
    env.pop('CNV2_SKIPPED_SAMPLES_DIR', None)
    command = [sys.executable, *([FAULT_RUNNER] if fault else []), osp.join('tools', tool), *args]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    return done.returncode, done.stdout + done.stderr


def logged_scalars(work_dir):
    """{iteration: scalars} from every run in ``work_dir`` (runs in time order; a repeated
    iteration must log the same values, which the caller checks with ``repeats``)."""
    by_iter, repeats = {}, []
    for scalars in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(scalars) as f:
            for line in f:
                entry = json.loads(line)
                if 'lr' not in entry:
                    continue
                if entry['iter'] in by_iter:
                    repeats.append((by_iter[entry['iter']], entry))
                by_iter[entry['iter']] = entry
    return by_iter, repeats


def last_checkpoint(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def load(path):
    import engine  # noqa: F401  (allow-lists mmengine's checkpoint types)
    return torch.load(path, map_location='cpu', weights_only=True)


def assert_same_weights(a, b, atol=1e-5):
    first, second = load(a)['state_dict'], load(b)['state_dict']
    assert first.keys() == second.keys()
    worst = max(float((first[k].double() - second[k].double()).abs().max()) for k in first
                if first[k].numel())
    assert worst <= atol, f'weights differ by up to {worst:g}'
