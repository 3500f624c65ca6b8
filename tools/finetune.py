"""Finetune a ConvNeXt V2 classifier on an ImageNet-style folder with mmengine's Runner.

    python tools/finetune.py tools/finetune_configs/finetune_convnextv2_atto_600e_in1k.py
    torchrun --nproc_per_node 8 tools/finetune.py CONFIG --launcher pytorch --amp
    python tools/finetune.py CONFIG --print-recipe          # effective lr, batch, layer decay
    python tools/finetune.py CONFIG --resume                # the last checkpoint of work_dir
    python tools/finetune.py CONFIG --eval CHECKPOINT       # top-1/top-5, centre crop

The total batch of the recipe is kept whatever the number of GPUs: gradient accumulation makes
up the difference (``batch per GPU x GPUs x accumulation = recipe.batch_size``). Multi-node runs
use torchrun's or slurm's environment with ``--launcher pytorch|slurm``.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from tools.finetune_recipe import (apply_recipe, effective_settings, format_settings,  # noqa: E402
                                   gradient_accumulation, launcher_world_size)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--work-dir', help='default: ./work_dirs/<config name>')
    parser.add_argument('--data-root', help='folder with train/ and val/ (overrides data_root)')
    parser.add_argument('--pretrained', help='initial weights (overrides recipe.pretrained)')
    parser.add_argument('--batch-per-gpu', type=int, help='overrides train_dataloader.batch_size')
    parser.add_argument('--resume', nargs='?', const='auto',
                        help='resume from CHECKPOINT, or from the last one in work_dir')
    parser.add_argument('--eval', metavar='CHECKPOINT', help='only evaluate CHECKPOINT')
    parser.add_argument('--amp', action='store_true', help='mixed precision (GPU)')
    parser.add_argument('--print-recipe', action='store_true',
                        help='print the effective settings and exit')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. recipe.epochs=10')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_config(args):
    """The config with the command line applied, the recipe derived and the batch split."""
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.data_root:
        cfg.data_root = args.data_root
    if args.pretrained:
        cfg.recipe.pretrained = args.pretrained
    if args.batch_per_gpu:
        cfg.train_dataloader.batch_size = args.batch_per_gpu
    if args.eval:
        cfg.recipe.pretrained = None   # the evaluated checkpoint replaces every weight
    apply_recipe(cfg)

    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    world_size = launcher_world_size(args.launcher)
    per_gpu = cfg.train_dataloader.batch_size
    steps = gradient_accumulation(cfg.recipe.batch_size, per_gpu, world_size)
    cfg.optim_wrapper.accumulative_counts = steps
    for hook in cfg.custom_hooks:
        if hook['type'] == 'EMAHook':   # one EMA update per optimizer step, as the official code
            hook['interval'] = steps
    cfg.batch_split = dict(per_gpu=cfg.train_dataloader.batch_size, gpus=world_size,
                           accumulation=steps)
    if args.amp and torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    elif args.amp:
        print_log('--amp needs a GPU: training in float32', logger='current')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = build_config(args)
    settings = format_settings(effective_settings(cfg.recipe))
    split = cfg.batch_split
    summary = (f'{settings}\n  batch split      {split.per_gpu} per GPU x {split.gpus} GPUs x '
               f'{split.accumulation} accumulation steps = {cfg.recipe.batch_size}')
    if args.print_recipe:
        print(summary)
        return None
    if args.eval:
        cfg.load_from, cfg.resume = args.eval, False
        cfg.default_hooks.checkpoint = None   # evaluating writes no checkpoint
        runner = Runner.from_cfg(cfg)
        return runner.val()
    runner = Runner.from_cfg(cfg)
    print_log(summary, logger='current')
    runner.train()
    return runner


if __name__ == '__main__':
    main()
