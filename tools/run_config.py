"""What tools/train.py and tools/test.py share: load a config and fit it to this machine.

Both tools serve mmdet and mmseg configs alike; the config's ``default_scope`` picks the registries.
"""
import os
import os.path as osp
import sys

import torch
from mmengine.config import Config
from mmengine.logging import print_log

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_config(path, cfg_options=None, work_dir=None, launcher='none'):
    if not osp.isfile(path):
        fail(f'config {path} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg


def use_amp(cfg):
    """``--amp``: fp16 autocast with a dynamic loss scale (mmcv 2.1's RoIAlign has no bf16)."""
    if not torch.cuda.is_available():
        fail('--amp needs a CUDA GPU and none is visible; drop --amp to train in fp32')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('dtype', 'float16')
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def fit_to_machine(cfg):
    """On a machine without a GPU: fp32 instead of the configs' AMP, gloo instead of nccl, and
    DDP without device ids (it refuses them for CPU modules)."""
    if torch.cuda.is_available():
        return
    wrapper = cfg.get('optim_wrapper')
    if wrapper and wrapper.get('type') == 'AmpOptimWrapper':
        wrapper.type = 'OptimWrapper'
        wrapper.pop('dtype', None)
        wrapper.pop('loss_scale', None)
        print_log('no GPU: training in fp32 with OptimWrapper instead of the config\'s '
                  'AmpOptimWrapper', logger='current')
    if cfg.launcher != 'none':
        cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
        if cfg.launcher == 'pytorch' and not torch.distributed.is_initialized():
            # mmengine's init_dist('pytorch') calls torch.cuda.set_device unconditionally:
            # join the torchrun group here, and the Runner then finds it already set up.
            torch.distributed.init_process_group(backend='gloo')
        wrapper_cfg = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
        wrapper_cfg['device_ids'] = None
        cfg.model_wrapper_cfg = wrapper_cfg


def world_size(launcher):
    return int(os.environ.get('WORLD_SIZE', 1)) if launcher != 'none' else 1


def describe_lr_scaling(cfg, launcher):
    """One line: the total batch the lr assumes, the real one, and the factor the Runner applies."""
    scale = cfg.get('auto_scale_lr')
    if not scale or 'base_batch_size' not in scale:
        return 'the config states no auto_scale_lr.base_batch_size: the lr is used as written'
    real = world_size(launcher) * cfg.train_dataloader.batch_size
    base = scale['base_batch_size']
    if not scale.get('enable', False):
        return f'lr auto-scaling disabled: lr as written for {base}, the real total batch is {real}'
    return (f'total batch {real} = {world_size(launcher)} process(es) x '
            f'{cfg.train_dataloader.batch_size}; the lr is written for {base}: scaled by '
            f'{real / base:g}')


def fail(message, code=2):
    """Stop with one line on stderr (no traceback) before anything is written."""
    print(f'error: {message}', file=sys.stderr, flush=True)
    sys.exit(code)


def build_runner(cfg):
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
