"""Small shared test utilities (no data files: everything is built in memory or tmp_path)."""
import torch

from backbones import ConvNeXtV2


def randomize_norms_and_grn(module, seed=0):
    """Give GRN gamma/beta and norm affine params non-trivial values (GRN starts as identity)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if 'grn' in name or 'norm' in name:
                noise = torch.randn(param.shape, generator=gen) * 0.2
                base = 1.0 if name.endswith('weight') and 'grn' not in name else 0.0
                param.copy_(base + noise)
    return module


def random_backbone(arch='atto', seed=0, **kwargs):
    torch.manual_seed(seed)
    model = ConvNeXtV2(arch, **kwargs)
    model.init_weights()
    return randomize_norms_and_grn(model, seed).eval()
