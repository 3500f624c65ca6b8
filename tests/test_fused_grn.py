"""The Triton GRN (backbones/fused_grn.py) computes the plain GRN's numbers: its kernels run under
Triton's interpreter on the CPU (a subprocess, as TRITON_INTERPRET is read when a kernel is
defined) against a float64 computation, forward and backward, float32 and bfloat16."""
import json
import os
import subprocess
import sys

import pytest
import torch

from backbones import fused_grn
from backbones.layers import GRN
from engine.launch import REPO_ROOT


@pytest.fixture(scope='module')
def interpreted_cases():
    env = dict(os.environ, TRITON_INTERPRET='1', CNV2_FUSED_GRN='1', PYTHONPATH=REPO_ROOT)
    done = subprocess.run([sys.executable, '-m', 'tests.fused_grn_numbers'], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return {case['case']: case for case in map(json.loads, done.stdout.splitlines())}


def test_triton_grn_matches_float64(interpreted_cases):
    grn_cases = [case for name, case in interpreted_cases.items() if name.startswith('grn ')]
    assert len(grn_cases) == 5
    for case in grn_cases:
        tolerance = 2e-2 if case['dtype'] == 'bfloat16' else 1e-5   # bf16 keeps 8 bits
        assert case['case'].endswith(case['dtype'])   # the output keeps the input's dtype
        for quantity in ('y', 'dx', 'dgamma', 'dbeta'):
            assert case[quantity] < tolerance, (case['case'], quantity, case[quantity])


def test_block_takes_the_fused_grn_unmasked_only(interpreted_cases):
    block = interpreted_cases['block']
    assert block['fused_calls'] == 1   # the unmasked forward; the masked one stays plain
    for quantity in ('dx', 'masked', 'dgamma'):
        assert block[quantity] < 1e-5, (quantity, block[quantity])


def test_plain_path_unless_switched_on_for_a_cuda_tensor(monkeypatch):
    monkeypatch.delenv('TRITON_INTERPRET', raising=False)
    x = torch.randn(1, 2, 2, 8)
    monkeypatch.setattr(fused_grn, 'ENABLED', False)
    assert not fused_grn.available(x)
    monkeypatch.setattr(fused_grn, 'ENABLED', True)
    assert not fused_grn.available(x)   # a CPU tensor without the interpreter
    assert torch.equal(GRN(8)(x), x)    # gamma = beta = 0 at init: the identity, on the plain path
