"""The OpenMMLab backbone contract: registries, out_indices/norms, freezing, with_cp, drop path,
init_cfg loading, bad arguments."""
import pytest
import torch

from backbones import ConvNeXtV2
from tests.helpers import random_backbone


@pytest.mark.parametrize('scope', ['mmengine', 'mmdet', 'mmseg'])
def test_registered_in_every_models_registry(scope):
    registry = pytest.importorskip(f'{scope}.registry').MODELS
    model = registry.build(dict(type='ConvNeXtV2', arch='atto', out_indices=(1, 2, 3)))
    assert type(model) is ConvNeXtV2
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [80, 160, 320]
    assert [o.shape[-1] for o in outs] == [8, 4, 2]


def test_custom_arch_and_norm_per_returned_stage():
    model = ConvNeXtV2(dict(depths=[1, 1, 2, 1], dims=[8, 16, 24, 32]), out_indices=(0, -1))
    assert model.out_indices == (0, 3)
    assert hasattr(model, 'norm0') and hasattr(model, 'norm3') and not hasattr(model, 'norm1')
    assert [o.shape[1] for o in model(torch.randn(2, 3, 32, 64))] == [8, 32]


def test_bad_arguments_fail_clearly():
    with pytest.raises(ValueError, match="unknown ConvNeXt V2 size 'giant'"):
        ConvNeXtV2('giant')
    with pytest.raises(ValueError, match='4 stages'):
        ConvNeXtV2(dict(depths=[1, 1], dims=[8, 16]))
    with pytest.raises(ValueError, match='out_indices'):
        ConvNeXtV2('atto', out_indices=(4,))


def test_frozen_stages_stay_frozen_after_train():
    model = ConvNeXtV2('atto', frozen_stages=2)
    model.train()
    frozen = [model.downsample_layers[0], model.stages[0], model.downsample_layers[1], model.stages[1],
              model.norm0, model.norm1]
    for module in frozen:
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    assert model.stages[2].training and all(p.requires_grad for p in model.stages[2].parameters())


def test_with_cp_gives_same_outputs_and_gradients():
    plain = random_backbone('atto')
    checkpointed = random_backbone('atto', with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    for model in (plain, checkpointed):
        model.train()
        sum(o.square().mean() for o in model(x)).backward()
    for (name, a), (_, b) in zip(plain.named_parameters(), checkpointed.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6, msg=name)


def test_drop_path_grows_linearly_and_is_off_in_eval():
    model = ConvNeXtV2('atto', drop_path_rate=0.3)
    blocks = [block for stage in model.stages for block in stage]
    assert isinstance(blocks[0].drop_path, torch.nn.Identity)
    assert blocks[-1].drop_path.drop_prob == pytest.approx(0.3)
    model.eval()
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(model(x)[3], model(x)[3])


def test_init_cfg_pretrained_loads_through_build(tmp_path):
    source = random_backbone('atto')
    path = tmp_path / 'atto.pth'
    torch.save({'state_dict': source.state_dict()}, path)
    from mmdet.registry import MODELS
    model = MODELS.build(dict(type='ConvNeXtV2', arch='atto',
                              init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    model.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_default_init_is_truncated_normal_with_zero_grn():
    model = ConvNeXtV2('atto')
    model.init_weights()
    weight = model.stages[2][0].pwconv1.weight
    assert weight.std().item() == pytest.approx(0.02, rel=0.1)   # official: trunc_normal_(std=.02)
    assert torch.count_nonzero(model.stages[2][0].grn.gamma) == 0
    assert torch.count_nonzero(model.stages[2][0].pwconv1.bias) == 0
