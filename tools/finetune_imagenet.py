"""Finetune a ConvNeXt V2 classifier on an ImageNet-style folder with mmengine's Runner.

    python tools/finetune_imagenet.py finetune/configs/finetune_convnextv2_atto_600e_in1k.py
    torchrun --nproc_per_node 8 tools/finetune_imagenet.py CONFIG --launcher pytorch --amp
    python tools/finetune_imagenet.py CONFIG --print-recipe          # effective lr, batch, layer decay
    python tools/finetune_imagenet.py CONFIG --resume                # the last checkpoint of work_dir
    python tools/finetune_imagenet.py CONFIG --eval CHECKPOINT       # top-1/top-5, centre crop

The total batch of the recipe is kept whatever the number of GPUs: gradient accumulation makes
up the difference (``batch per GPU x GPUs x accumulation = recipe.batch_size``). Multi-node runs
use torchrun's or slurm's environment with ``--launcher pytorch|slurm``.
"""
import argparse
import os

from mmengine.logging import print_log

import finetune  # noqa: F401  (registers the classifier, dataset and metric)
from downstream.preflight import check_backbone_checkpoint, check_model_checkpoint
from engine.batch_scaling import gradient_accumulation
from engine.launch import (add_launch_arguments, build_runner, claim_or_stop, fit_to_machine,
                           load_config, parse_launch_args, set_resume, train_or_stop, use_amp,
                           world_size)
from engine.messages import fail
from engine.preflight import (PreflightError, check_batch_sizes, check_kind, check_launch,
                              resume_checkpoint)
from finetune.recipe import apply_recipe, effective_settings, format_settings


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--data-root', help='folder with train/ and val/ (overrides data_root)')
    parser.add_argument('--pretrained', help='initial weights (overrides recipe.pretrained)')
    parser.add_argument('--batch-per-gpu', type=int, help='overrides train_dataloader.batch_size')
    parser.add_argument('--eval', metavar='CHECKPOINT', help='only evaluate CHECKPOINT')
    parser.add_argument('--print-recipe', action='store_true',
                        help='print the effective settings and exit')
    add_launch_arguments(parser, amp_help='fp16 mixed precision with a dynamic loss scale (GPU)')
    return parse_launch_args(parser, argv)


def build_config(args):
    """The config with the command line applied, the batch split and the recipe derived."""
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher,
                      args.allow_new_keys)
    if args.data_root:
        cfg.data_root = args.data_root
    if args.pretrained:
        cfg.recipe.pretrained = args.pretrained
    if args.batch_per_gpu is not None:   # 0 is a value (refused below), not "unset"
        cfg.train_dataloader.batch_size = args.batch_per_gpu
    try:
        check_kind(cfg, ('classifier',), 'tools/finetune_imagenet.py', args.config)
        check_batch_sizes(cfg)
    except PreflightError as err:
        fail(str(err))
    if args.eval:
        cfg.recipe.pretrained = None   # the evaluated checkpoint replaces every weight
    gpus = world_size(args.launcher)
    steps, reached, note = gradient_accumulation(cfg.recipe.batch_size, cfg.train_dataloader.batch_size,
                                                 gpus)
    cfg.recipe.batch_size = reached   # the lr follows the batch reached (linear scaling rule)
    apply_recipe(cfg)
    cfg.optim_wrapper.accumulative_counts = steps
    for hook in cfg.custom_hooks:
        if hook['type'] == 'EMAHook':   # one EMA update per optimizer step, as the official code
            hook['interval'] = steps
    cfg.batch_split = dict(per_gpu=cfg.train_dataloader.batch_size, gpus=gpus, accumulation=steps,
                           note=note)
    if args.amp:
        use_amp(cfg)
    set_resume(cfg, args.resume)
    return cfg


def preflight(cfg, args):
    """The model, the data folders, the work dir, and every checkpoint the run will load (--eval
    and --resume strictly into the classifier, --pretrained into its backbone); one line if not."""
    try:
        check_launch(cfg, args.config, ('classifier',), 'tools/finetune_imagenet.py',
                     loaders=('val_dataloader',) if args.eval else None)
        for checkpoint in (args.eval, resume_checkpoint(cfg, args.resume)):
            if checkpoint:
                check_model_checkpoint(cfg.model, checkpoint)
        pretrained = cfg.model.get('pretrained')
        if pretrained and '://' not in pretrained and not pretrained.startswith('hf-hub:'):
            if not (os.path.isfile(pretrained) or os.path.isdir(pretrained)):   # a hub folder too
                raise PreflightError(f'--pretrained {pretrained} does not exist; pass a converted '
                                     'FCMAE checkpoint (tools/convert_fcmae.py) or a classifier')
            check_backbone_checkpoint(dict(arch=cfg.model.arch, out_indices=(3,), norm_out=False),
                                      pretrained)
    except PreflightError as err:
        fail(str(err))


def main(argv=None):
    args = parse_args(argv)
    cfg = build_config(args)
    settings = format_settings(effective_settings(cfg.recipe))
    split = cfg.batch_split
    summary = (f'{settings}\n  batch split      {split.per_gpu} per GPU x {split.gpus} GPUs x '
               f'{split.accumulation} accumulation steps = {cfg.recipe.batch_size}{split.note}')
    if args.print_recipe:
        print(summary)
        return None
    preflight(cfg, args)
    fit_to_machine(cfg)
    if args.eval:
        cfg.load_from, cfg.resume = args.eval, False
        cfg.default_hooks.checkpoint = None   # evaluating writes no checkpoint
        runner = build_runner(cfg)
        return train_or_stop(runner, runner.val)
    claim_or_stop(cfg, args.resume, args.overwrite)
    runner = build_runner(cfg)
    print_log(summary, logger='current')
    train_or_stop(runner)
    return runner


if __name__ == '__main__':
    main()
