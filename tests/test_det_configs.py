"""Every COCO Mask R-CNN config builds and states the recipe of Appendix A.3 (and Table 6 FLOPs)."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import backbones  # noqa: F401
from backbones.checkpoints.released import released_url
from backbones.variants import ARCHS
from downstream import preflight

DET_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'det_configs')
SIZES = list(ARCHS)
COCO_CONFIGS = {size: osp.join(DET_DIR, f'mask-rcnn_convnextv2-{size}_fpn_lsj-3x_coco.py')
                for size in SIZES}
TOY_CONFIG = osp.join(DET_DIR, 'mask-rcnn_convnextv2-atto_fpn_synthetic-coco.py')


def load(path):
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    return cfg


def test_there_is_one_config_per_size_and_nothing_else():
    found = sorted(glob.glob(osp.join(DET_DIR, 'mask-rcnn_*.py')))   # cascade-*: test_cascade_configs
    assert found == sorted(list(COCO_CONFIGS.values()) + [TOY_CONFIG])


@pytest.mark.parametrize('size', SIZES)
def test_size_config_states_the_a3_recipe(size):
    cfg = load(COCO_CONFIGS[size])
    backbone = cfg.model.backbone
    assert backbone.type == 'ConvNeXtV2' and backbone.arch == size
    assert list(cfg.model.neck.in_channels) == list(ARCHS[size]['dims'])
    assert backbone.drop_path_rate in (0.2, 0.3, 0.4, 0.5)            # A.3 sweep
    assert cfg.optim_wrapper.paramwise_cfg.decay_rate in (0.9, 0.95)   # A.3 sweep
    # three blocks per id for every size, the rule of V1's configs and of the mmdet anchor
    # (tests/test_recipe_sources.py compares the lr of every parameter with theirs)
    assert cfg.optim_wrapper.paramwise_cfg.decay_type == 'group_wise'
    # A.3: the final IN-1K models; the released finetuned EMA weights of this size, by URL
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=released_url(size, 'in1k'))
    # 3x schedule, AdamW 1e-4 / 0.05, total batch 32 (16 GPUs x 2) with automatic lr scaling
    assert cfg.train_cfg.max_epochs == 36
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=32)
    assert 16 * cfg.train_dataloader.batch_size == 32
    assert (cfg.optim_wrapper.type, cfg.optim_wrapper.dtype) == ('AmpOptimWrapper', 'float16')
    # large-scale jitter at 1024x1024 with scale range [0.1, 2.0]
    resize = next(t for t in cfg.train_pipeline if t.type == 'RandomResize')
    crop = next(t for t in cfg.train_pipeline if t.type == 'RandomCrop')
    assert tuple(resize.scale) == (1024, 1024) and tuple(resize.ratio_range) == (0.1, 2.0)
    assert tuple(crop.crop_size) == (1024, 1024)
    # single-scale test with soft-NMS, COCO box and mask metrics
    assert cfg.model.test_cfg.rcnn.nms.type == 'soft_nms'
    assert cfg.model.test_cfg.rcnn.nms.min_score == 1e-3   # the anchor's (mmcv's default)
    assert 'tta_model' not in cfg
    assert list(cfg.val_evaluator.metric) == ['bbox', 'segm']
    assert cfg.train_dataloader.dataset.ann_file == 'annotations/instances_train2017.json'
    assert cfg.val_evaluator.ann_file == 'data/coco/annotations/instances_val2017.json'


@pytest.mark.parametrize('size', SIZES)
def test_size_config_builds_model_and_pipelines(size):
    from mmengine.dataset import Compose
    cfg = load(COCO_CONFIGS[size])
    model = preflight.build_on_meta(cfg.model)   # every module of the config, no memory
    assert tuple(model.backbone.dims) == tuple(ARCHS[size]['dims'])
    assert model.roi_head.mask_head.num_classes == 80
    Compose(cfg.train_pipeline)
    Compose(cfg.test_pipeline)


def test_atto_model_builds_with_layer_decay_optimizer():
    """One real build: the layer-decay optimizer covers every parameter, stem at 0.95^12."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS
    cfg = load(TOY_CONFIG)
    model = MODELS.build(cfg.model)
    model.init_weights()
    fp32 = {k: v for k, v in cfg.optim_wrapper.items() if k not in ('dtype', 'loss_scale')}
    wrapper = build_optim_wrapper(model, dict(fp32, type='OptimWrapper'))
    in_groups = sum(len(g['params']) for g in wrapper.optimizer.param_groups)
    assert in_groups == sum(1 for p in model.parameters() if p.requires_grad)
    scales = {g['lr_scale'] for g in wrapper.optimizer.param_groups}
    assert max(scales) == 1.0 and min(scales) == pytest.approx(0.95 ** sum(ARCHS['atto']['depths']))


def test_lr_is_scaled_to_the_real_total_batch():
    from engine.launch import describe_lr_scaling
    cfg = load(COCO_CONFIGS['base'])
    assert describe_lr_scaling(cfg, 'none').endswith('scaled by 0.0625')   # 1 x 2 vs 32


@pytest.mark.slow  # ~100 s on 2 CPU cores: one real 486 GFLOP forward, traced
@pytest.mark.parametrize('size', ['base'])
def test_mask_rcnn_flops_match_table_6(size):
    """Table 6: Mask R-CNN ConvNeXt V2-B, 486G FLOPs at 1280x800 (within 3%)."""
    from downstream.complexity import complexity
    torch.set_num_threads(2)
    info = complexity(load(COCO_CONFIGS[size]), 1280, 800)
    paper = {'base': 486}[size]   # Table 6, typed from the paper
    assert info['flops'] / 1e9 == pytest.approx(paper, rel=0.03)
