"""FCMAE pretraining of ConvNeXt V2 on mmengine's Runner (configs in pretrain/configs/).

    python tools/pretrain.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--cfg-options k=v ...]
    torchrun --nproc_per_node 8 tools/pretrain.py CONFIG --launcher pytorch

Gradient accumulation and the learning rate follow from the config's ``effective_batch_size``
and the number of GPUs (pretrain/batch_scaling.py). Checkpoints are written atomically; after a
crash or a kill, run the same command with ``--resume`` to continue from the last complete one.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import pretrain  # noqa: E402,F401  (registers FCMAE, the dataset and the checkpoint hook)
from pretrain.batch_scaling import scale_to_effective_batch, world_size_from_env  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='FCMAE pretraining of ConvNeXt V2')
    parser.add_argument('config', help='pretrain/configs/fcmae_convnextv2_*.py')
    parser.add_argument('--work-dir', help='logs and checkpoints (default work_dirs/<config>)')
    parser.add_argument('--resume', nargs='?', const='auto',
                        help='resume from CKPT, or (no value) from the work dir\'s last checkpoint')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_dataloader.batch_size=32')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_config(args):
    if not osp.isfile(args.config):
        sys.exit(f'config {args.config} does not exist; see pretrain/configs/')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        if not osp.isfile(args.resume):
            sys.exit(f'--resume {args.resume}: no such checkpoint')
        cfg.resume, cfg.load_from = True, args.resume
    return cfg


def fall_back_to_fp32_without_gpu(cfg):
    """bf16 AMP needs a GPU; on a CPU (smoke tests) train in float32 instead, and say so."""
    if cfg.optim_wrapper.get('type') != 'AmpOptimWrapper' or torch.cuda.is_available():
        return None
    cfg.optim_wrapper.type = 'OptimWrapper'
    for key in ('dtype', 'loss_scale', 'use_fsdp'):
        cfg.optim_wrapper.pop(key, None)
    return 'no GPU: AmpOptimWrapper (bf16) replaced by OptimWrapper (float32)'


def main(argv=None):
    args = parse_args(argv)
    cfg = build_config(args)
    notes = [scale_to_effective_batch(cfg, world_size_from_env(args.launcher)),
             fall_back_to_fp32_without_gpu(cfg)]
    runner = Runner.from_cfg(cfg)
    for note in filter(None, notes):
        runner.logger.info(f'FCMAE: {note}')
    runner.train()
    return runner


if __name__ == '__main__':
    main()
