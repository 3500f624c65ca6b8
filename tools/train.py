"""Train an mmdet or mmseg config with a ConvNeXt V2 backbone (the config's default_scope decides).

    python tools/train.py CONFIG [--work-dir DIR] [--cfg-options k=v ...] [--resume [CKPT]] [--amp]
    torchrun --nproc_per_node 8 tools/train.py CONFIG --launcher pytorch     # or dist_train.sh

Before the Runner creates anything in the work dir, the inputs are checked (engine/preflight.py,
downstream/preflight.py): the config, --cfg-options, the model, a missing or wrong initial or
--resume checkpoint, annotation file or image stops the run with one line. Then the work dir is
claimed (no fresh run over an earlier run's checkpoints without --overwrite; one run at a time).
"""
import argparse

from mmengine.logging import print_log
from mmengine.registry import init_default_scope

from downstream import preflight
from engine.launch import (add_launch_arguments, build_runner, claim_or_stop, describe_lr_scaling,
                           fit_to_machine, load_config, parse_launch_args, set_resume, train_or_stop,
                           use_amp)
from engine.messages import fail
from engine.preflight import PreflightError, check_launch, resume_checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector or segmentor')
    parser.add_argument('config', help='config file (det_configs/..., seg_configs/...)')
    add_launch_arguments(parser, amp_help='fp16 mixed precision (needs a GPU)')
    return parse_launch_args(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher,
                      args.allow_new_keys)
    try:
        check_launch(cfg, args.config, ('det', 'seg'), 'tools/train.py')
        init_default_scope(cfg.get('default_scope', 'mmdet'))
        resume_from = resume_checkpoint(cfg, args.resume)
        if resume_from:
            preflight.check_model_checkpoint(cfg.model, resume_from)
        if args.amp:
            use_amp(cfg)
        fit_to_machine(cfg)
        resuming = set_resume(cfg, args.resume)
        if resuming:   # resuming restores every weight: the backbone's initial checkpoint is not read
            preflight.drop_initial_weights(cfg.model)
        preflight.check_training(cfg, resuming=resuming)
    except PreflightError as err:
        fail(str(err))

    claim_or_stop(cfg, args.resume, args.overwrite)
    runner = build_runner(cfg)
    print_log(describe_lr_scaling(cfg, args.launcher), logger='current')
    train_or_stop(runner)   # an error preflight could not see: one line, the traceback in the log


if __name__ == '__main__':
    main()
