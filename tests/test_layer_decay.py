"""The layer-decay constructor assigns the ids of the paper's two strategies (Appendix A.2)."""
import pytest
import torch.nn as nn
from mmengine.optim import build_optim_wrapper

from backbones import ConvNeXtV2


class TinyDetector(nn.Module):
    def __init__(self, arch):
        super().__init__()
        self.backbone = ConvNeXtV2(arch, out_indices=(1, 2, 3))
        self.neck = nn.Linear(4, 4)


def param_groups(arch, decay_type, rate=0.9):
    model = TinyDetector(arch)
    wrapper = build_optim_wrapper(model, dict(
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        constructor='ConvNeXtV2LayerDecayOptimizerConstructor',
        paramwise_cfg=dict(decay_rate=rate, decay_type=decay_type)))
    groups = {}
    for group in wrapper.optimizer.param_groups:
        for name in group['param_names']:
            groups[name] = group
    return groups


def layer_of(group, rate, num_layers):
    """Invert lr_scale = rate ** (num_layers - 1 - id)."""
    import math
    return round(num_layers - 1 - math.log(group['lr_scale']) / math.log(rate))


def test_layer_wise_tiny_gives_every_block_its_own_id():
    groups = param_groups('tiny', 'layer_wise')
    num_layers = 3 + 3 + 9 + 3 + 2   # blocks + stem id range + head
    ids = {name: layer_of(g, 0.9, num_layers) for name, g in groups.items()}
    assert ids['backbone.downsample_layers.0.0.weight'] == 1
    assert ids['backbone.stages.0.0.dwconv.weight'] == 1
    assert ids['backbone.stages.0.2.pwconv1.weight'] == 3
    assert ids['backbone.downsample_layers.1.1.weight'] == 4
    assert ids['backbone.stages.1.0.grn.gamma'] == 4
    assert ids['backbone.stages.2.4.pwconv2.weight'] == 3 + 3 + 4 + 1
    assert ids['backbone.stages.3.2.dwconv.weight'] == 18
    assert ids['neck.weight'] == 19 and groups['neck.weight']['lr_scale'] == 1.0
    block_ids = {ids[f'backbone.stages.{s}.{b}.dwconv.weight'] for s, d in enumerate((3, 3, 9, 3))
                 for b in range(d)}
    assert block_ids == set(range(1, 19))   # 18 blocks, 18 distinct ids
    assert groups['backbone.stages.0.0.dwconv.weight']['lr'] == pytest.approx(1e-4 * 0.9 ** 18)


def test_group_wise_base_shares_ids_between_three_blocks():
    groups = param_groups('base', 'group_wise', rate=0.8)
    num_layers = 12 + 2
    ids = {name: layer_of(g, 0.8, num_layers) for name, g in groups.items()}
    assert ids['backbone.downsample_layers.0.0.weight'] == 0
    assert ids['backbone.stages.0.2.dwconv.weight'] == 1
    assert ids['backbone.downsample_layers.1.1.weight'] == ids['backbone.stages.1.1.dwconv.weight'] == 2
    assert ids['backbone.downsample_layers.2.1.weight'] == 3
    assert [ids[f'backbone.stages.2.{b}.dwconv.weight'] for b in (0, 2, 3, 5, 26)] == [3, 3, 4, 4, 11]
    assert ids['backbone.downsample_layers.3.1.weight'] == ids['backbone.stages.3.2.dwconv.weight'] == 12
    assert ids['neck.weight'] == 13


def test_no_weight_decay_on_norms_biases_and_grn():
    groups = param_groups('atto', 'layer_wise')
    model = TinyDetector('atto')
    norm_weights = {f'{module_name}.weight' for module_name, module in model.named_modules()
                    if isinstance(module, nn.LayerNorm)}
    assert 'backbone.downsample_layers.0.1.weight' in norm_weights
    for name, group in groups.items():
        exempt = name.endswith('.bias') or '.grn.' in name or name in norm_weights
        assert (group['weight_decay'] == 0.0) == exempt, name


def test_wrong_num_layers_is_refused():
    with pytest.raises(ValueError, match='num_layers=6 does not match group_wise'):
        build_optim_wrapper(TinyDetector('base'), dict(
            optimizer=dict(type='AdamW', lr=1e-4), constructor='ConvNeXtV2LayerDecayOptimizerConstructor',
            paramwise_cfg=dict(decay_rate=0.9, decay_type='group_wise', num_layers=6)))
