"""Run under TRITON_INTERPRET=1 CNV2_FUSED_GRN=1 (tests/test_fused_grn.py does): the fused GRN's
forward and backward against a float64 computation of the plain GRN, as one JSON line of relative
errors per case, and which path a Block took."""
import contextlib
import copy
import json

import torch

from backbones import fused_grn
from backbones.layers import GRN, Block


@contextlib.contextmanager
def plain_grn():
    """The reference: the plain-torch GRN, whatever ``available`` would say."""
    fused_grn.ENABLED = False
    try:
        yield
    finally:
        fused_grn.ENABLED = True


def relative_error(value, reference):
    reference = reference.detach()
    return float((value.detach().double() - reference).abs().max() / reference.abs().max())


def grn_case(shape, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    x = torch.randn(*shape)
    x[0, ..., 3] = 0   # one channel zero everywhere in image 0: its norm's gradient must be 0
    reference = GRN(shape[-1]).double()
    with torch.no_grad():
        reference.gamma.normal_()
        reference.beta.normal_()
    x64 = x.double().requires_grad_()
    with plain_grn():
        y64 = reference(x64)
    dy = torch.randn_like(y64)
    y64.backward(dy)
    xt = x.to(dtype).requires_grad_()
    gamma = reference.gamma.detach().float().requires_grad_()
    beta = reference.beta.detach().float().requires_grad_()
    y = fused_grn.fused_grn(xt, gamma, beta, reference.eps)
    y.backward(dy.to(dtype))
    return dict(case=f'grn {tuple(shape)} {str(dtype)[6:]}', dtype=str(y.dtype)[6:],
                y=relative_error(y, y64), dx=relative_error(xt.grad, x64.grad),
                dgamma=relative_error(gamma.grad, reference.gamma.grad),
                dbeta=relative_error(beta.grad, reference.beta.grad))


def block_case():
    """A Block whose GRN runs fused vs a float64 copy of it on the plain path; with a mask the
    Block keeps the plain GRN (no fused call)."""
    torch.manual_seed(1)
    block = Block(40)
    with torch.no_grad():
        block.grn.gamma.normal_()
        block.grn.beta.normal_()
    x = torch.randn(2, 40, 9, 11)
    calls = []
    original = fused_grn.FusedGRN.apply
    fused_grn.FusedGRN.apply = lambda *args: calls.append(1) or original(*args)
    try:
        xf = x.clone().requires_grad_()
        block(xf).square().sum().backward()
        masked = block(x, torch.ones(2, 1, 9, 11))   # the FCMAE masked path keeps the plain GRN
    finally:
        fused_grn.FusedGRN.apply = original
    block64 = copy.deepcopy(block).double()
    block64.zero_grad()
    x64 = x.double().requires_grad_()
    with plain_grn():
        y64 = block64(x64)
    y64.square().sum().backward()
    return dict(case='block', fused_calls=len(calls), dx=relative_error(xf.grad, x64.grad),
                masked=relative_error(masked, y64.detach()),
                dgamma=relative_error(block.grn.gamma.grad, block64.grn.gamma.grad))


if __name__ == '__main__':
    assert fused_grn.ENABLED, 'run with CNV2_FUSED_GRN=1 TRITON_INTERPRET=1'
    for shape in [(2, 5, 7, 70), (3, 8, 8, 130), (1, 13, 11, 40), (1, 1, 1, 8)]:
        print(json.dumps(grn_case(shape)))
    print(json.dumps(grn_case((2, 6, 6, 96), torch.bfloat16)))
    print(json.dumps(block_case()))
