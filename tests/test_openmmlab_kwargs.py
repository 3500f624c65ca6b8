"""The OpenMMLab spelling of the backbone: mmpretrain ConvNeXt kwargs, pretrained=, mmdet::/mmseg:: bases."""
import importlib.util
import warnings

import pytest

pytest.importorskip('mmengine')
import torch  # noqa: E402

from backbones import ConvNeXtV2  # noqa: E402

# the mmdetection ConvNeXt-V2 project's backbone block, with only `type` changed
PROJECT = dict(type='ConvNeXtV2', arch='atto', out_indices=[0, 1, 2, 3], drop_path_rate=0.4,
               layer_scale_init_value=0., gap_before_final_norm=False, use_grn=True)


def _build(cfg):
    cfg = dict(cfg)
    if importlib.util.find_spec('mmdet') is not None:
        from mmdet.registry import MODELS
        return MODELS.build(cfg)
    cfg.pop('type')
    return ConvNeXtV2(**cfg)


def test_project_block_matches_native_spelling():
    torch.manual_seed(0)
    ours = _build(PROJECT)
    assert isinstance(ours, ConvNeXtV2)
    native = ConvNeXtV2(arch='atto', out_indices=(0, 1, 2, 3), drop_path_rate=0.4)
    native.load_state_dict(ours.state_dict())
    ours.eval(), native.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        a, b = ours(x), native(x)
    assert len(a) == 4
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v)


def test_base_arch_and_negative_out_indices():
    m = ConvNeXtV2(arch='base', out_indices=[-1, 0], use_grn=True, layer_scale_init_value=0)
    assert m.dims[0] == 128 and m.out_indices == (0, 3)


def test_frozen_stages_and_with_cp():
    m = ConvNeXtV2(arch='atto', frozen_stages=1, with_cp=True)
    m.train()
    assert not any(p.requires_grad for p in m.stages[0].parameters())
    assert all(p.requires_grad for p in m.stages[1].parameters())
    out = m(torch.randn(1, 3, 64, 64))
    sum(o.sum() for o in out).backward()


def test_pretrained_becomes_init_cfg_and_warns():
    with pytest.warns(DeprecationWarning, match='pretrained is deprecated'):
        m = ConvNeXtV2(arch='atto', pretrained='some/ckpt.pth')
    assert m.init_cfg == dict(type='Pretrained', checkpoint='some/ckpt.pth')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert ConvNeXtV2(arch='atto', pretrained=None).init_cfg is None


def test_pretrained_and_init_cfg_both_set_errors():
    with pytest.raises(ValueError, match='pretrained.*init_cfg'):
        ConvNeXtV2(arch='atto', pretrained='a.pth', init_cfg=dict(type='Pretrained', checkpoint='b.pth'))


@pytest.mark.parametrize('kwarg, value', [('use_grn', False), ('layer_scale_init_value', 1e-6),
                                          ('gap_before_final_norm', True)])
def test_unsupported_values_error_with_their_name(kwarg, value):
    with pytest.raises(ValueError, match=f'{kwarg}={value!r}') as err:
        ConvNeXtV2(arch='atto', **{kwarg: value})
    assert 'use ' in str(err.value)


@pytest.mark.parametrize('package, base', [
    ('mmdet', 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'),
    ('mmseg', 'mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py'),
])
def test_openmmlab_config_inheritance(tmp_path, package, base):
    pytest.importorskip(package)
    from mmengine import Config
    path = tmp_path / 'cfg.py'
    path.write_text(f"_base_ = '{base}'\nmodel = dict(backbone=dict(depth=50))\n")
    cfg = Config.fromfile(str(path))
    assert cfg.model.backbone.type.startswith('ResNet')   # mmseg's R50 base: ResNetV1c
