"""The det/seg choices of docs/recipes.md against the anchors' own code.

Layer decay: our constructor, on the resolved det/seg configs, is compared parameter by parameter
with mmdet's / mmseg's ``LearningRateDecayOptimizerConstructor`` (ConvNeXt V1's rules) run with the
paramwise_cfg of ConvNeXt V1's configs and of the mmdet ConvNeXt V2 project; the per-depth table
of the page is recomputed from them. Soft-NMS: mmcv's own op shows that min_score 1e-3 keeps every
box of min_score 0.05, unchanged and ahead of the extra ones.
"""
import inspect
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import backbones  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DET = osp.join(REPO, 'det_configs', 'mask-rcnn_convnextv2-{}_fpn_lsj-3x_coco.py')
SEG = osp.join(REPO, 'seg_configs', 'upernet_convnextv2-{}_8xb2-amp-160k_ade20k-512x512.py')
# paramwise_cfg typed from the anchors (mmdet / mmseg name V1's three-blocks-per-id rule
# 'layer_wise'): facebookresearch/ConvNeXt object_detection/configs/convnext/
# mask_rcnn_convnext_tiny_patch4_window7_mstrain_480-800_adamw_3x_coco_in1k.py; open-mmlab/mmdetection
# projects/ConvNeXt-V2/configs/mask-rcnn_convnext-v2-b_fpn_lsj-3x-fcmae_coco.py; facebookresearch/
# ConvNeXt semantic_segmentation/configs/convnext/upernet_convnext_tiny_512_160k_ade20k_ms.py
V1_DET_TINY = dict(decay_rate=0.95, decay_type='layer_wise', num_layers=6)
MMDET_ANCHOR_BASE = dict(decay_rate=0.95, decay_type='layer_wise', num_layers=12)
V1_SEG_TINY = dict(decay_rate=0.9, decay_type='stage_wise', num_layers=6)


def model_and_config(path):
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    registry = __import__(f'{cfg.default_scope}.registry', fromlist=['MODELS']).MODELS
    model_cfg = cfg.model.copy()
    model_cfg.backbone.pop('init_cfg', None)
    with torch.device('meta'):
        model = registry.build(model_cfg)
    return model, cfg


def lr_scales(model, optimizer_cfg, constructor, paramwise_cfg):
    wrapper = build_optim_wrapper(model, dict(type='OptimWrapper', optimizer=optimizer_cfg,
                                              constructor=constructor, paramwise_cfg=paramwise_cfg))
    return {name: group['lr_scale'] for group in wrapper.optimizer.param_groups
            for name in group.get('param_names', [])}


def ours(model, cfg):
    return lr_scales(model, cfg.optim_wrapper.optimizer, cfg.optim_wrapper.constructor,
                     cfg.optim_wrapper.paramwise_cfg)


def reference(model, cfg, paramwise_cfg):
    return lr_scales(model, cfg.optim_wrapper.optimizer, 'LearningRateDecayOptimizerConstructor',
                     paramwise_cfg)


@pytest.mark.parametrize('size, anchor', [('tiny', V1_DET_TINY), ('base', MMDET_ANCHOR_BASE),
                                          ('large', MMDET_ANCHOR_BASE),
                                          ('huge', MMDET_ANCHOR_BASE)])
def test_det_configs_give_every_parameter_the_anchors_lr(size, anchor):
    model, cfg = model_and_config(DET.format(size))
    mine, theirs = ours(model, cfg), reference(model, cfg, anchor)
    assert mine.keys() == theirs.keys()
    differ = [name for name in mine if mine[name] != pytest.approx(theirs[name])]
    assert not differ, differ[:5]


def test_seg_tiny_gets_v1s_lr_for_the_stem_and_stages_0_and_1():
    model, cfg = model_and_config(SEG.format('tiny'))
    mine, theirs = ours(model, cfg), reference(model, cfg, V1_SEG_TINY)
    early = [n for n in mine if n.startswith(('backbone.downsample_layers.0.',
                                              'backbone.stages.0.', 'backbone.stages.1.'))]
    assert early and all(mine[n] == pytest.approx(theirs[n]) for n in early)
    assert mine['backbone.stages.3.2.dwconv.weight'] == pytest.approx(0.9)       # V1: 0.9^3
    assert theirs['backbone.stages.3.2.dwconv.weight'] == pytest.approx(0.9 ** 3)
    assert mine['decode_head.conv_seg.weight'] == theirs['decode_head.conv_seg.weight'] == 1.0


def depth_cells(scales, depths=(3, 3, 9, 3)):
    """The page's per-depth cells: stem, each stage's blocks as 'min-max', heads."""
    def cell(values):
        low, high = f'{min(values):.2f}', f'{max(values):.2f}'
        return low if low == high else f'{low}-{high}'
    cells = [cell([scales['backbone.downsample_layers.0.0.weight']])]
    for stage, depth in enumerate(depths):
        cells.append(cell([scales[f'backbone.stages.{stage}.{block}.dwconv.weight']
                           for block in range(depth)]))
    heads = [s for n, s in scales.items() if not n.startswith('backbone.')]
    cells.append(cell(heads).replace('1.00', '1'))
    return cells


def test_the_pages_per_depth_table_is_what_the_constructors_assign():
    det_model, det_cfg = model_and_config(DET.format('tiny'))
    seg_model, seg_cfg = model_and_config(SEG.format('tiny'))
    block = dict(det_cfg.optim_wrapper.paramwise_cfg, decay_type='layer_wise')
    seg_block = dict(seg_cfg.optim_wrapper.paramwise_cfg, decay_type='layer_wise')
    columns = [
        lr_scales(det_model, det_cfg.optim_wrapper.optimizer, det_cfg.optim_wrapper.constructor,
                  block),
        ours(det_model, det_cfg),
        lr_scales(seg_model, seg_cfg.optim_wrapper.optimizer, seg_cfg.optim_wrapper.constructor,
                  seg_block),
        ours(seg_model, seg_cfg),
        reference(seg_model, seg_cfg, V1_SEG_TINY),
    ]
    assert ours(det_model, det_cfg) == pytest.approx(reference(det_model, det_cfg, V1_DET_TINY))
    expected = list(zip(*[depth_cells(scales) for scales in columns]))
    page = open(osp.join(REPO, 'docs', 'recipes.md')).read()
    table = page[page.index('| depth of T (3/3/9/3)'):].split('\n\n')[0].split('\n')[2:]
    rows = [[c.strip() for c in line.strip('|').split('|')][1:] for line in table]
    assert [tuple(row) for row in rows] == expected


def test_soft_nms_min_score_is_mmcvs_default_and_only_adds_boxes_at_the_end():
    from mmcv.ops import soft_nms
    cfg = Config.fromfile(DET.format('tiny'))
    nms = cfg.model.test_cfg.rcnn.nms
    assert nms.min_score == inspect.signature(soft_nms).parameters['min_score'].default

    generator = torch.Generator().manual_seed(0)
    xy = torch.rand(300, 2, generator=generator) * 200
    boxes = torch.cat([xy, xy + 20 + torch.rand(300, 2, generator=generator) * 60], dim=1)
    scores = torch.rand(300, generator=generator) * 0.95 + 0.05      # all above score_thr
    strict, _ = soft_nms(boxes, scores, iou_threshold=nms.iou_threshold, min_score=0.05)
    kept, _ = soft_nms(boxes, scores, iou_threshold=nms.iou_threshold, min_score=nms.min_score)
    assert len(kept) > len(strict) > 0
    assert torch.equal(kept[:len(strict)], strict)       # same boxes, same decayed scores, first
    assert (kept[len(strict):, 4] < 0.05).all()


def test_the_fcmae_fp32_switch_drops_autocast():
    from tools import pretrain_fcmae as pretrain_tool
    config = osp.join(REPO, 'pretrain', 'configs', 'fcmae_convnextv2_atto_800e_in1k.py')
    default = pretrain_tool.build_config(pretrain_tool.parse_args([config]))
    assert (default.optim_wrapper.type, default.optim_wrapper.dtype) == ('AmpOptimWrapper',
                                                                         'bfloat16')
    fp32 = pretrain_tool.build_config(pretrain_tool.parse_args([config, '--fp32']))
    assert fp32.optim_wrapper.type == 'OptimWrapper'
    assert not {'dtype', 'loss_scale'} & set(fp32.optim_wrapper)
    assert re.search(r'--fp32', open(osp.join(REPO, 'pretrain', 'configs', '_base_',
                                              'fcmae_in1k.py')).read())
