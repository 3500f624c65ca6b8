"""Numerical parity with timm's ConvNeXt V2 (the reference implementation) for all eight sizes."""
import pytest
import timm
import torch

from backbones import ARCHS, ConvNeXtV2
from backbones.checkpoints.load import canonical_backbone_weights, load_canonical, load_pretrained
from backbones.checkpoints.layouts import to_timm
from tests.helpers import randomize_norms_and_grn


def timm_stage_outputs(model, x):
    outs, x = [], model.stem(x)
    for stage in model.stages:
        x = stage(x)
        outs.append(x)
    return outs


def quick_random_init(model, seed=0):
    """Random weights without the (slow, for huge) truncated-normal init of the constructors."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.02)
    return randomize_norms_and_grn(model, seed)


@pytest.mark.parametrize('arch', list(ARCHS))
def test_every_stage_matches_timm(arch, tmp_path):
    """Same weights, loaded through our converter from timm's state dict (from a file for the small
    sizes) -> every stage equal to timm's to 1e-5 (float32) on a random non-square input."""
    with torch.device('meta'):
        reference = timm.create_model(f'convnextv2_{arch}')
        ours = ConvNeXtV2(arch, norm_out=False)
    reference = quick_random_init(reference.to_empty(device='cpu')).eval()
    ours = ours.to_empty(device='cpu').eval()
    if sum(ours.depths) <= 10:
        path = tmp_path / f'timm_{arch}.pth'
        torch.save(reference.state_dict(), path)
        load_pretrained(ours, str(path))
    else:
        _, canonical = canonical_backbone_weights(reference.state_dict())
        load_canonical(ours, canonical)
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        expected = timm_stage_outputs(reference, x)
        got = ours(x)
    assert len(got) == 4
    for stage, (a, b) in enumerate(zip(got, expected)):
        assert a.shape == b.shape
        scale = b.abs().max().clamp(min=1.0)
        assert (a - b).abs().max() / scale < 1e-5, f'{arch} stage {stage}'


def test_export_to_timm_loads_strictly_into_timm():
    """Our weights written in timm's layout load strictly into timm (atto: 1x1-conv MLP; tiny: linear)."""
    for arch, conv_mlp in (('atto', True), ('tiny', False)):
        ours = ConvNeXtV2(arch, norm_out=False)
        sd = dict(ours.state_dict())
        sd['norm.weight'], sd['norm.bias'] = torch.ones(ours.dims[3]), torch.zeros(ours.dims[3])
        sd['head.weight'], sd['head.bias'] = torch.zeros(1000, ours.dims[3]), torch.zeros(1000)
        timm.create_model(f'convnextv2_{arch}').load_state_dict(to_timm(sd, conv_mlp=conv_mlp))
