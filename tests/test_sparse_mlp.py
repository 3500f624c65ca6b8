"""The gathered ("sparse") MLP path of the masked encoder equals the masked-dense path,
and neither lets removed pixels reach visible features (paper §3)."""
import pytest
import torch

from backbones import ConvNeXtV2
from tests.helpers import randomize_norms_and_grn


def encoder(arch, sparse_mlp, seed=0):
    torch.manual_seed(seed)
    model = ConvNeXtV2(arch, norm_out=False, sparse_mlp=sparse_mlp)
    model.init_weights()
    return randomize_norms_and_grn(model, seed).double()


def random_visible(n, h, w, ratio=0.6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    scores = torch.rand(n, h * w, generator=gen)
    keep = scores.argsort(1) >= int(ratio * h * w)   # exactly h*w - int(ratio*h*w) visible
    return keep.reshape(n, 1, h, w).double()


@pytest.mark.parametrize('arch', ['atto', dict(depths=[1, 1, 3, 1], dims=[16, 24, 32, 48])])
def test_sparse_equals_masked_dense_in_float64(arch):
    dense, sparse = encoder(arch, False), encoder(arch, True)
    sparse.load_state_dict(dense.state_dict())
    x = torch.randn(2, 3, 96, 160, dtype=torch.float64)
    visible = random_visible(2, 3, 5)
    for a, b in zip(dense(x, visible), sparse(x, visible)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_sparse_gradients_equal_masked_dense():
    dense, sparse = encoder('atto', False), encoder('atto', True)
    sparse.load_state_dict(dense.state_dict())
    x = torch.randn(2, 3, 64, 96, dtype=torch.float64)
    visible = random_visible(2, 2, 3, seed=1)
    for model in (dense, sparse):
        model.train()
        model(x, visible)[3].square().sum().backward()
    for (name, a), (_, b) in zip(dense.named_parameters(), sparse.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize('sparse_mlp', [False, True])
def test_removed_pixels_never_reach_visible_features(sparse_mlp):
    model = encoder('atto', sparse_mlp).eval()
    x = torch.randn(2, 3, 64, 128, dtype=torch.float64)
    visible = random_visible(2, 2, 4, seed=2)
    pixel_visible = torch.nn.functional.interpolate(visible, size=x.shape[-2:], mode='nearest')
    changed = x + torch.randn_like(x) * 5 * (1 - pixel_visible)
    for stage, (a, b) in enumerate(zip(model(x, visible), model(changed, visible))):
        stage_visible = torch.nn.functional.interpolate(visible, size=a.shape[-2:], mode='nearest')
        assert torch.equal(a * stage_visible, b * stage_visible), f'leak at stage {stage}'
        assert torch.count_nonzero(a * (1 - stage_visible)) == 0   # removed positions stay empty
