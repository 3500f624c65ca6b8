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


def check_downstream_init(exported, configs=None, in_channels=3):
    """Build each toy det/seg model (or those of ``configs``, scope -> file) with its backbone
    initialised from ``exported`` (``in_channels`` input channels)."""
    import torch
    import backbones  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    saved = torch.load(exported, map_location='cpu', weights_only=True)['state_dict']
    saved = {k.removeprefix('backbone.'): v for k, v in saved.items()}
    lines = []
    for scope, config in (configs or DOWNSTREAM_CONFIGS).items():
        cfg = Config.fromfile(config)
        init_default_scope(scope)
        cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=exported)
        cfg.model.backbone.in_channels = in_channels
        model = MODELS.build(cfg.model)
        model.init_weights()
        state = model.backbone.state_dict()
        differing = [k for k, v in saved.items() if not torch.equal(state[k], v)]
        if differing:
            sys.exit(f'check_chain: {osp.basename(config)} did not take {differing[:3]} from {exported}')
        lines.append(f'{scope}: {osp.basename(config)} backbone initialised from the export '
                     f'({len(saved)} tensors equal)')
    return lines


# -- the own-images chain: continue FCMAE on a folder -> convert -> det/seg initialisation --------
def continue_config(size):
    return osp.join(REPO_ROOT, 'pretrain', 'configs', f'fcmae_convnextv2_{size}_continue_custom.py')


def downstream_configs(size, task):
    """scope -> config whose backbone the own-domain weights initialise: the toy ones for atto,
    the paper's Mask R-CNN / UperNet of the size otherwise."""
    if size == 'atto':
        configs = DOWNSTREAM_CONFIGS
    else:
        configs = {
            'mmdet': osp.join(REPO_ROOT, 'det_configs', f'mask-rcnn_convnextv2-{size}_fpn_lsj-3x_coco.py'),
            'mmseg': osp.join(REPO_ROOT, 'seg_configs',
                              f'upernet_convnextv2-{size}_8xb2-amp-160k_ade20k-512x512.py')}
    wanted = {'det': ['mmdet'], 'seg': ['mmseg'], 'both': ['mmdet', 'mmseg']}[task]
    return {scope: configs[scope] for scope in wanted}


def own_images_stats(folder):
    """(in_channels, mean, std) of a folder, or exit with one line when it has none to give."""
    from pretrain.dataset_stats import folder_stats
    try:
        stats = folder_stats(folder)
    except FileNotFoundError as err:
        sys.exit(f'check_chain: {err}')
    if not stats.count or len(stats.channels) != 1:
        sys.exit(f'check_chain: {folder} has {stats.count} readable images with channel counts '
                 f'{dict(stats.channels)}; run python tools/dataset_stats.py {folder} to see why')
    (channels,) = stats.channels
    return (channels, [round(float(v), 3) for v in stats.mean],
            [round(max(float(v), 1e-3), 3) for v in stats.std])


def own_images_options(folder, checkpoint, stats, epochs, img_size, batch_size, freeze_epochs,
                       picture_every, effective_batch=1024):
    """--cfg-options for a continue config on ``folder`` for ``epochs`` epochs."""
    channels, mean, std = stats
    warmup = max(1, epochs // 10)
    return [f'effective_batch_size={effective_batch}', f'model.in_channels={channels}', f'model.encoder_init.checkpoint={checkpoint}',
            f'model.data_preprocessor.mean={mean}', f'model.data_preprocessor.std={std}',
            f'train_dataloader.dataset.data_root={folder}',
            f'train_dataloader.dataset.in_channels={channels}',
            f'train_dataloader.dataset.img_size={img_size}',
            f'train_dataloader.batch_size={batch_size}', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', f'train_cfg.max_epochs={epochs}',
            f'default_hooks.checkpoint.interval={epochs}', 'default_hooks.logger.interval=1',
            f'custom_hooks.4.epochs={freeze_epochs}', f'custom_hooks.5.interval={picture_every}',
            f'param_scheduler.0.end={warmup}', f'param_scheduler.1.begin={warmup}',
            f'param_scheduler.1.end={epochs}', f'param_scheduler.1.T_max={max(epochs - warmup, 1)}']


def own_images_chain(folder, checkpoint, work, size='atto', task='both', epochs=100, img_size=224,
                     batch_size=64, freeze_epochs=5, picture_every=10, effective_batch=1024):
    """Continue FCMAE from ``checkpoint`` on ``folder``, convert, initialise det/seg from it;
    return the summary lines (the tools run as subprocesses, as a user types them)."""
    stats = own_images_stats(folder)
    fcmae_dir = osp.join(work, 'fcmae')
    run_tool('pretrain_fcmae.py', continue_config(size), '--work-dir', fcmae_dir, '--cfg-options',
             *own_images_options(folder, checkpoint, stats, epochs, img_size, batch_size,
                                 freeze_epochs, picture_every, effective_batch))
    losses = [r['loss'] for r in scalars(fcmae_dir) if 'loss' in r]
    converted = osp.join(work, f'convnextv2_{size}_own_fcmae_backbone.pth')
    run_tool('convert_fcmae.py', last_checkpoint(fcmae_dir), '--out', converted, '--format',
             'mmdet', '--force')
    pictures = sorted(glob.glob(osp.join(fcmae_dir, 'reconstructions', '*.png')))
    lines = [f'own images: {folder}, {stats[0]} channels, mean {stats[1]}, std {stats[2]}',
             f'FCMAE continued from {checkpoint}: loss {losses[0]:.3f} -> {losses[-1]:.3f} '
             f'({len(losses)} logged steps); reconstruction pictures: {len(pictures)} in '
             f'{osp.join(fcmae_dir, "reconstructions")}',
             f'converted encoder: {converted}']
    return lines + check_downstream_init(converted, downstream_configs(size, task), stats[0])
