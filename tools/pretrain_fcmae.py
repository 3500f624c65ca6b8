"""FCMAE pretraining of ConvNeXt V2 on mmengine's Runner (configs in pretrain/configs/).

    python tools/pretrain_fcmae.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--cfg-options k=v ...]
    torchrun --nproc_per_node 8 tools/pretrain_fcmae.py CONFIG --launcher pytorch
    python tools/pretrain_fcmae.py CONFIG --fp32      # float32, as the official code (configs: bf16)

Gradient accumulation and the learning rate follow from the config's ``effective_batch_size``
and the number of GPUs (engine/batch_scaling.py). Checkpoints are written atomically; after a
crash or a kill, run the same command with ``--resume`` to continue from the last complete one.
"""
import argparse

import pretrain  # noqa: F401  (registers FCMAE and its dataset)
from downstream.preflight import check_model_checkpoint
from engine.batch_scaling import scale_to_effective_batch
from engine.launch import (add_launch_arguments, build_runner, claim_or_stop, fit_to_machine,
                           load_config, parse_launch_args, set_resume, train_or_stop, use_fp32,
                           world_size)
from engine.messages import fail
from engine.preflight import PreflightError, check_launch, resume_checkpoint
from pretrain.preflight import check_fcmae


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='FCMAE pretraining of ConvNeXt V2')
    parser.add_argument('config', help='pretrain/configs/fcmae_convnextv2_*.py')
    add_launch_arguments(parser, amp_help=None)   # the configs choose bf16 AMP themselves
    parser.add_argument('--fp32', action='store_true',
                        help='train in float32 as the official main_pretrain.py (the configs use '
                             'bf16 autocast)')
    return parse_launch_args(parser, argv)


def build_config(args):
    """The config with the command line applied (its file and --cfg-options checked)."""
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher,
                      args.allow_new_keys)
    if args.fp32:
        use_fp32(cfg)
    set_resume(cfg, args.resume)
    return cfg


def preflight(cfg, args):
    """Before anything is written: the kind of config, batch size, model, image folder, work dir,
    and a --resume checkpoint that fits the FCMAE model exactly; one line if not."""
    try:
        check_launch(cfg, args.config, ('fcmae',), 'tools/pretrain_fcmae.py')
        check_fcmae(cfg)   # own images: folder, channel count, encoder_init size (pretrain/preflight.py)
        resume_from = resume_checkpoint(cfg, args.resume)
        if resume_from:
            check_model_checkpoint(cfg.model, resume_from)
    except PreflightError as err:
        fail(str(err))


def main(argv=None):
    args = parse_args(argv)
    cfg = build_config(args)
    preflight(cfg, args)
    notes = [scale_to_effective_batch(cfg, world_size(args.launcher)), fit_to_machine(cfg)]
    claim_or_stop(cfg, args.resume, args.overwrite)
    runner = build_runner(cfg)
    for note in filter(None, notes):
        runner.logger.info(f'FCMAE: {note}')
    train_or_stop(runner)
    return runner


if __name__ == '__main__':
    main()
