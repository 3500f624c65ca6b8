"""Parameter counts and FLOPs of the eight classifiers at 224x224 against Table 14 of the paper."""
import pytest
import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer

from backbones import ARCHS, ConvNeXtV2

# Table 14 of the paper (ImageNet-1K fine-tuning, 224x224): #param (M), FLOPs (G), typed from the
# paper here so that the test does not read the numbers from the code it checks.
TABLE_14 = {'atto': (3.7, 0.55), 'femto': (5.2, 0.78), 'pico': (9.1, 1.37), 'nano': (15.6, 2.45),
            'tiny': (28.6, 4.47), 'base': (89, 15.4), 'large': (198, 34.4), 'huge': (660, 115)}


class Classifier(nn.Module):
    """Backbone + global pool + LayerNorm + 1000-way head, as the paper counts them."""

    def __init__(self, arch):
        super().__init__()
        self.backbone = ConvNeXtV2(arch, out_indices=(3,), norm_out=False)
        self.norm = nn.LayerNorm(self.backbone.dims[3], eps=1e-6)
        self.head = nn.Linear(self.backbone.dims[3], 1000)

    def forward(self, x):
        return self.head(self.norm(self.backbone(x)[0].mean((-2, -1))))


def test_every_size_of_table14_is_built():
    assert sorted(ARCHS) == sorted(TABLE_14)


@pytest.mark.parametrize('arch', list(TABLE_14))
def test_params_and_flops_match_table14(arch):
    params_m, gflops = TABLE_14[arch]
    with torch.device('meta'):
        model = Classifier(arch)
    counted = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(counted - params_m) / params_m < 0.02, f'{arch}: {counted:.2f}M vs paper {params_m}M'
    model = model.to_empty(device='cpu').eval()   # values do not matter for counting
    flops = FlopAnalyzer(model, torch.randn(1, 3, 224, 224)).total() / 1e9
    assert abs(flops - gflops) / gflops < 0.02, f'{arch}: {flops:.3f} GFLOPs vs paper {gflops}'
