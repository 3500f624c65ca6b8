"""Every checkpoint layout, written from a model, loads back with identical outputs; bad files fail
with one clear line."""
import math

import pytest
import torch

from backbones import ConvNeXtV2
from backbones.checkpoints.load import CheckpointError, load_pretrained
from backbones.checkpoints.layouts import (from_official_sparse_fcmae, to_dense_fcmae,
                                          to_official_sparse_fcmae, to_timm)
from tests.helpers import random_backbone

FCMAE_EXTRAS = {'mask_token': torch.zeros(1, 512, 1, 1), 'proj.weight': torch.zeros(512, 320, 1, 1),
                'proj.bias': torch.zeros(512), 'decoder.0.dwconv.weight': torch.zeros(512, 1, 7, 7),
                'pred.weight': torch.zeros(3072, 512, 1, 1), 'pred.bias': torch.zeros(3072)}


def classifier_weights(backbone_sd, dim=320, classes=10):
    sd = {k: v for k, v in backbone_sd.items() if not k.startswith(('norm0', 'norm1', 'norm2', 'norm3'))}
    sd.update({'norm.weight': torch.ones(dim), 'norm.bias': torch.zeros(dim),
               'head.weight': torch.randn(classes, dim), 'head.bias': torch.zeros(classes)})
    return sd


def layouts(source):
    """name -> checkpoint object, all holding the weights of ``source`` (an atto backbone)."""
    sd = {k: v.clone() for k, v in source.state_dict().items()}
    bare = {k: v for k, v in sd.items() if not k.startswith('norm')}
    return {
        'project bare state dict': sd,
        'project mmengine checkpoint': {'meta': {'epoch': 3}, 'state_dict': sd},
        'mmdet detector checkpoint': {'state_dict': {**{f'backbone.{k}': v for k, v in sd.items()},
                                                     'neck.lateral_convs.0.conv.weight': torch.zeros(1)}},
        'official finetuned model': {'model': classifier_weights(bare), 'epoch': 99},
        'official finetuned model_ema': {'model_ema': classifier_weights(bare)},
        'official sparse FCMAE': {'model': {**to_official_sparse_fcmae(bare), **FCMAE_EXTRAS}},
        'dense FCMAE (pt_only)': {'model': {**to_dense_fcmae(bare), **FCMAE_EXTRAS}},
        'timm convnextv2_atto': to_timm(classifier_weights(bare), conv_mlp=True),
    }


@pytest.mark.parametrize('layout', list(layouts(ConvNeXtV2('atto'))))
def test_layout_round_trip(layout, tmp_path):
    source = random_backbone('atto', out_indices=(1, 3))
    path = tmp_path / 'ckpt.pth'
    torch.save(layouts(source)[layout], path)
    target = ConvNeXtV2('atto', out_indices=(1, 3)).eval()
    report = load_pretrained(target, str(path))
    foreign = 'project' not in layout and 'mmdet' not in layout
    if foreign:  # output norms are not in foreign checkpoints: they start fresh, compare before them
        assert 'freshly initialised: norm1, norm3' in report
        source.norm_out = target.norm_out = False
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        for a, b in zip(source(x), target(x)):
            assert torch.equal(a, b), layout


def test_sparse_kernel_offsets_are_column_major():
    """MinkowskiEngine's kernel offset index runs w-major: kernel[w * k + h, in, out] = W[out, in, h, w]."""
    weight = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    sparse = to_official_sparse_fcmae({'downsample_layers.1.1.weight': weight})
    kernel = sparse['encoder.downsample_layers.1.1.kernel']
    assert kernel.shape == (4, 3, 2)
    for h in range(2):
        for w in range(2):
            assert torch.equal(kernel[w * 2 + h], weight[:, :, h, w].t())
    back = from_official_sparse_fcmae(sparse)['downsample_layers.1.1.weight']
    assert torch.equal(back, weight)
    dw = torch.randn(5, 1, 7, 7)
    dw_kernel = to_official_sparse_fcmae({'stages.0.0.dwconv.weight': dw})['encoder.stages.0.0.dwconv.kernel']
    assert dw_kernel.shape == (49, 5) and torch.equal(dw_kernel[3 * 7 + 2], dw[:, 0, 2, 3])
    assert math.isqrt(dw_kernel.shape[0]) == 7


def test_corrupt_file_fails_clearly(tmp_path):
    path = tmp_path / 'bad.pth'
    torch.save(ConvNeXtV2('atto').state_dict(), path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match='cannot read checkpoint .*bad.pth.*corrupt'):
        load_pretrained(ConvNeXtV2('atto'), str(path))


def test_missing_file_fails_clearly(tmp_path):
    with pytest.raises(CheckpointError, match='does not exist'):
        load_pretrained(ConvNeXtV2('atto'), str(tmp_path / 'nope.pth'))


def test_wrong_size_fails_with_one_line(tmp_path):
    path = tmp_path / 'femto.pth'
    torch.save({'model': ConvNeXtV2('femto').state_dict()}, path)
    with pytest.raises(CheckpointError) as err:
        load_pretrained(ConvNeXtV2('atto'), str(path))
    message = str(err.value)
    assert 'ConvNeXt V2-femto' in message and 'ConvNeXt V2-atto' in message and '\n' not in message


def test_missing_and_unexpected_keys_are_named(tmp_path):
    sd = ConvNeXtV2('atto').state_dict()
    del sd['stages.2.3.grn.gamma']
    sd['stages.2.3.extra.weight'] = torch.zeros(1)
    path = tmp_path / 'broken.pth'
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match=r'missing keys \[stages.2.3.grn.gamma\].*unexpected keys '
                                              r'\[stages.2.3.extra.weight\]'):
        load_pretrained(ConvNeXtV2('atto'), str(path))


def test_shape_mismatch_is_named(tmp_path):
    sd = ConvNeXtV2('atto').state_dict()
    sd['stages.1.0.pwconv1.weight'] = torch.zeros(7, 7)
    path = tmp_path / 'shape.pth'
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match=r'shape mismatches \[stages.1.0.pwconv1.weight \(7, 7\)'):
        load_pretrained(ConvNeXtV2('atto'), str(path))


def test_not_a_convnext_checkpoint(tmp_path):
    path = tmp_path / 'resnet.pth'
    torch.save({'state_dict': {'conv1.weight': torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match='no known ConvNeXt V2 checkpoint layout'):
        load_pretrained(ConvNeXtV2('atto'), str(path))
