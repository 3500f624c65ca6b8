"""Train an mmdet or mmseg config with a ConvNeXt V2 backbone (the config's default_scope decides).

    python tools/train.py CONFIG [--work-dir DIR] [--cfg-options k=v ...] [--resume [CKPT]] [--amp]
    torchrun --nproc_per_node 8 tools/train.py CONFIG --launcher pytorch     # or dist_train.sh

Before the Runner creates anything in the work dir, the inputs are checked (tools/preflight.py):
a missing or wrong initial checkpoint, annotation file or image stops the run with one line.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import backbones  # noqa: E402,F401  (registers ConvNeXtV2 before any config is built)
from mmengine.config import DictAction  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import find_latest_checkpoint  # noqa: E402

from backbones.checkpoint import CheckpointError  # noqa: E402
from tools import preflight  # noqa: E402
from tools.run_config import (build_runner, describe_lr_scaling, fail, fit_to_machine,  # noqa: E402
                              load_config, use_amp)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector or segmentor')
    parser.add_argument('config', help='config file (det_configs/..., seg_configs/...)')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument('--amp', action='store_true', help='fp16 mixed precision (needs a GPU)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint of the work dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_dataloader.batch_size=4')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def set_resume(cfg, resume):
    """Return True when the run will resume from a checkpoint (and so needs no initial weights)."""
    if resume is None:
        return False
    cfg.resume = True
    if resume == 'auto':
        cfg.load_from = None
        return find_latest_checkpoint(cfg.work_dir) is not None
    if not osp.isfile(resume):
        fail(f'--resume {resume}: no such checkpoint')
    cfg.load_from = resume
    return True


def drop_initial_weights(model_cfg):
    """Resuming restores every weight, so the backbone's initial checkpoint is not read at all."""
    for _, module_cfg, _ in list(preflight.pretrained_init_cfgs(model_cfg)):
        module_cfg.init_cfg = None


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    if args.amp:
        use_amp(cfg)
    fit_to_machine(cfg)
    resuming = set_resume(cfg, args.resume)
    if resuming:
        drop_initial_weights(cfg.model)
    try:
        preflight.check_training(cfg, resuming=resuming)
    except preflight.PreflightError as err:
        fail(str(err))

    runner = build_runner(cfg)
    print_log(describe_lr_scaling(cfg, args.launcher), logger='current')
    try:
        runner.train()
    except CheckpointError as err:  # a problem preflight could not see; still one line
        fail(str(err), code=1)


if __name__ == '__main__':
    main()
