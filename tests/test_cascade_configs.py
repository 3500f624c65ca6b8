"""The Cascade Mask R-CNN configs: ConvNeXt V1's Cascade recipe on every V2 size, and the
complexity of ConvNeXt V1's README table after V2's changes to the block."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import backbones  # noqa: F401
from backbones.checkpoints.released import released_url
from backbones.variants import ARCHS
from downstream.complexity import dummy_forward_macs
from engine.preflight import build_on_meta

DET_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'det_configs')
SIZES = list(ARCHS)
CONFIGS = {size: osp.join(DET_DIR, f'cascade-mask-rcnn_convnextv2-{size}_fpn_4conv1fc-giou_ms-crop-3x_coco.py')
           for size in SIZES}
MASK_RCNN = osp.join(DET_DIR, 'mask-rcnn_convnextv2-tiny_fpn_lsj-3x_coco.py')

# facebookresearch/ConvNeXt object_detection/configs/convnext/cascade_mask_rcnn_convnext_*_3x_*.py,
# typed here: (drop path, layer decay, lr, initial weights). Large and xlarge start from IN-22K;
# huge takes xlarge's values (both 3/3/27/3 blocks). The small sizes have no V1 counterpart.
V1 = {'tiny': (0.4, 0.7, 2e-4, 'in1k'), 'base': (0.7, 0.8, 2e-4, 'in1k'),
      'large': (0.7, 0.7, 1e-4, 'in22k_224'), 'huge': (0.8, 0.7, 1e-4, 'in22k_384')}
SMALL = (0.3, 0.7, 2e-4, 'in1k')


def load(path):
    return Config.fromfile(path)


def test_one_cascade_config_per_size():
    found = sorted(glob.glob(osp.join(DET_DIR, 'cascade-mask-rcnn_convnextv2-*_ms-crop-3x_coco.py')))
    assert found == sorted(CONFIGS.values())


@pytest.mark.parametrize('size', SIZES)
def test_size_config_states_v1s_cascade_recipe(size):
    cfg = load(CONFIGS[size])
    model, wrapper = cfg.model, cfg.optim_wrapper
    drop_path, decay, lr, kind = V1.get(size, SMALL)
    assert model.backbone.type == 'ConvNeXtV2' and model.backbone.arch == size
    assert list(model.neck.in_channels) == list(ARCHS[size]['dims'])
    assert model.backbone.drop_path_rate == drop_path
    assert model.backbone.init_cfg == dict(type='Pretrained', checkpoint=released_url(size, kind))
    assert (wrapper.paramwise_cfg.decay_rate, wrapper.paramwise_cfg.decay_type) == (decay, 'group_wise')
    assert (wrapper.optimizer.type, wrapper.optimizer.lr, wrapper.optimizer.weight_decay) == \
        ('AdamW', lr, 0.05)
    assert (wrapper.type, wrapper.dtype) == ('AmpOptimWrapper', 'float16')
    # total batch 16 (8 x 2), 3x with V1's steps and warmup
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=16)
    assert 8 * cfg.train_dataloader.batch_size == 16
    warmup, steps = cfg.param_scheduler
    assert (warmup.end, warmup.start_factor) == (500, 0.001)
    assert cfg.train_cfg.max_epochs == 36 and list(steps.milestones) == [27, 33]
    # three stages, 4conv1fc + SyncBN, GIoU x10 on decoded boxes, V1's per-stage target stds
    roi = model.roi_head
    assert (model.type, roi.type, roi.num_stages) == ('CascadeRCNN', 'CascadeRoIHead', 3)
    assert list(roi.stage_loss_weights) == [1, 0.5, 0.25]
    assert [stage.assigner.pos_iou_thr for stage in model.train_cfg.rcnn] == [0.5, 0.6, 0.7]
    assert [list(head.bbox_coder.target_stds) for head in roi.bbox_head] == [
        [0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067]]
    for head in roi.bbox_head:
        assert head.type == 'Shared4Conv1FCBBoxHead' and head.norm_cfg.type == 'SyncBN'
        assert head.reg_decoded_bbox and not head.reg_class_agnostic
        assert (head.loss_bbox.type, head.loss_bbox.loss_weight) == ('GIoULoss', 10.0)
    # DETR-style multi-scale + crop: shorter side 480..800 (x 1333), or 400-600 + crop + 480..800
    choice = next(step for step in cfg.train_pipeline if step.type == 'RandomChoice')
    multi, crop = choice.transforms
    assert [min(s) for s in multi[0].scales] == list(range(480, 801, 32))
    assert [step.type for step in crop] == ['RandomChoiceResize', 'RandomCrop', 'RandomChoiceResize']
    assert tuple(crop[1].crop_size) == (384, 600) and crop[2].scales == multi[0].scales
    assert model.test_cfg.rcnn.nms == dict(type='nms', iou_threshold=0.5)


def test_runtime_is_the_mask_rcnn_configs():
    """Same checkpoint hook, long-run hooks and resumable loop as Mask R-CNN (the shared runtime)."""
    cascade, mask_rcnn = load(CONFIGS['tiny']), load(MASK_RCNN)
    assert cascade.custom_hooks == mask_rcnn.custom_hooks and len(cascade.custom_hooks) == 4
    assert cascade.default_hooks == mask_rcnn.default_hooks
    assert cascade.train_cfg.type == mask_rcnn.train_cfg.type == 'ResumableEpochBasedTrainLoop'
    assert cascade.custom_imports == mask_rcnn.custom_imports


@pytest.mark.parametrize('size', SIZES)
def test_size_config_builds_model_and_pipelines(size):
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope
    cfg = load(CONFIGS[size])
    init_default_scope('mmdet')
    model = build_on_meta(cfg.model)
    assert tuple(model.backbone.dims) == tuple(ARCHS[size]['dims'])
    assert len(model.roi_head.bbox_head) == len(model.roi_head.mask_head) == 3
    Compose(cfg.train_pipeline)
    Compose(cfg.test_pipeline)


# ConvNeXt V1's README (object_detection/README.md), Cascade Mask R-CNN 3x at 1280x800, typed here:
# (#params in M, GFLOPs). V2 changes the block in two ways: layer scale goes (-C parameters per
# block) and GRN comes (+2 x 4C: gamma and beta over the 4C hidden channels), so each block has 7C
# more parameters. FLOPs: layer scale is one multiply per C-channel element, GRN a few elementwise
# operations per 4C-channel element; mmdet 2's counter (V1's table) counted neither, nor do we, so
# the multiply-accumulates are V1's. (Counted, GRN would add ~0.9G for T: 175M elements at 1280x800.)
V1_README = {'tiny': (86, 741), 'base': (146, 964), 'large': (255, 1354)}


def v2_expected(size):
    params_m, gflops = V1_README[size]
    depths, dims = ARCHS[size]['depths'], ARCHS[size]['dims']
    extra = 7 * sum(d * c for d, c in zip(depths, dims))   # T 46,368; B 126,336; L 189,504
    return params_m + extra / 1e6, gflops


@pytest.mark.parametrize('size', list(V1_README))
def test_complexity_matches_v1_readme_after_v2s_block_changes(size):
    params_m, gflops = v2_expected(size)
    counted = dummy_forward_macs(load(CONFIGS[size]), 1280, 800)
    assert counted['params'] / 1e6 == pytest.approx(params_m, rel=0.01)
    assert counted['flops'] / 1e9 == pytest.approx(gflops, rel=0.01)


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU fallback')
def test_syncbn_runs_as_bn_in_several_cpu_processes():
    """torch's SyncBatchNorm refuses CPU tensors once a process group exists (torchrun on a CPU);
    tools/train.py turns the heads' SyncBN into BN there. One process keeps SyncBN: mmengine's
    Runner reverts it to BN when there is no process group (the toy trainings run that way)."""
    from engine.launch import fit_to_machine
    several = load(CONFIGS['tiny'])
    several.launcher = 'slurm'    # what fit_to_machine reads; 'pytorch' would also join a group
    fit_to_machine(several)
    assert {head.norm_cfg.type for head in several.model.roi_head.bbox_head} == {'BN'}
    assert 'SyncBN' not in repr(several.model.to_dict())
    one = load(CONFIGS['tiny'])
    one.launcher = 'none'
    fit_to_machine(one)
    assert {head.norm_cfg.type for head in one.model.roi_head.bbox_head} == {'SyncBN'}
