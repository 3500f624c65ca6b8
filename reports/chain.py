"""The FCMAE -> finetune -> det/seg initialisation chain's steps (``tools/check_chain.py`` runs
them): the toy configs, the generated data set, the FCMAE schedule options, reading a run's
logged scalars and last checkpoint, and the det/seg initialisation check."""
import glob
import json
import os.path as osp
import sys

from engine.launch import REPO_ROOT
from reports.commands import run_tool

FCMAE_CONFIG = osp.join(REPO_ROOT, 'pretrain', 'configs', 'fcmae_convnextv2_atto_toy.py')
FINETUNE_CONFIG = osp.join(REPO_ROOT, 'finetune', 'configs', 'toy',
                           'finetune_convnextv2_atto_toy.py')
DOWNSTREAM_CONFIGS = {
    'mmdet': osp.join(REPO_ROOT, 'det_configs', 'mask-rcnn_convnextv2-atto_fpn_synthetic-coco.py'),
    'mmseg': osp.join(REPO_ROOT, 'seg_configs', 'upernet_convnextv2-atto_toy-synthetic-ade20k.py'),
}


def ensure_dataset(root, train_per_class, val_per_class):
    if osp.isdir(osp.join(root, 'train')) and osp.isdir(osp.join(root, 'val')):
        print(f'using the classification folder {root}')
        return
    classes = 8
    run_tool('make_synthetic.py', 'imagenet', '--out', root, '--classes', classes,
             '--train', train_per_class * classes, '--val', val_per_class * classes)


def fcmae_options(data_root, size, epochs):
    """--cfg-options for the toy FCMAE config on ``data_root`` for ``epochs`` epochs."""
    return [f'train_dataloader.dataset.data_root={osp.join(data_root, "train")}',
            f'train_dataloader.dataset.img_size={size}', 'train_dataloader.num_workers=0',
            f'train_cfg.max_epochs={epochs}', f'default_hooks.checkpoint.interval={epochs}',
            'param_scheduler.0.end=1', 'param_scheduler.1.begin=1',
            f'param_scheduler.1.end={epochs}', f'param_scheduler.1.T_max={max(epochs - 1, 1)}']


def scalars(work_dir):
    """The logged scalar records of the newest run in ``work_dir``."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        sys.exit(f'check_chain: no training log under {work_dir}')
    with open(files[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def last_checkpoint(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def check_downstream_init(exported):
    """Build each toy det/seg model with its backbone initialised from ``exported``."""
    import torch
    import backbones  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    saved = torch.load(exported, map_location='cpu', weights_only=True)['state_dict']
    saved = {k.removeprefix('backbone.'): v for k, v in saved.items()}
    lines = []
    for scope, config in DOWNSTREAM_CONFIGS.items():
        cfg = Config.fromfile(config)
        init_default_scope(scope)
        cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=exported)
        model = MODELS.build(cfg.model)
        model.init_weights()
        state = model.backbone.state_dict()
        differing = [k for k, v in saved.items() if not torch.equal(state[k], v)]
        if differing:
            sys.exit(f'check_chain: {osp.basename(config)} did not take {differing[:3]} from {exported}')
        lines.append(f'{scope}: {osp.basename(config)} backbone initialised from the export '
                     f'({len(saved)} tensors equal)')
    return lines
