"""Training-step speed and peak memory, side by side with the named peer, in one table.

Rows:
  backbone  this ConvNeXt V2 classifier vs timm's ``convnextv2_*`` at equal numerics (same weights,
            dtype, memory format, batch), eager and ``torch.compile``d;
  fcmae     FCMAE pretraining steps (encoder + decoder + loss), masked-dense vs the sparse path
            (per-position MLP at visible positions only), next to the paper's ratios (1.3x, 0.5x);
  det, seg  Mask R-CNN (fp16 AMP) and UperNet (bf16 AMP) with this backbone vs timm's plugged in.

Each number is the median of ``--repeats`` timed runs of ``--iters`` synchronised steps after
``--warmup`` steps. Examples:
  python tools/benchmark.py                       # GPU: every row at the issue's settings
  python tools/benchmark.py --device cpu --quick  # CPU: small sizes, small inputs, few repeats
"""
import argparse
import json
import os

import torch

from reports.training_speed import (NotTheSameComputation, backbone_rows, dense_task_rows,
                                       fcmae_rows, markdown)
from engine.messages import fail
from engine.work_dir_guard import WorkDirError, check_output_free


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--rows', default='backbone,fcmae,det,seg')
    parser.add_argument('--sizes', default='atto,tiny,base', help='backbone row sizes')
    parser.add_argument('--fcmae-sizes', default='atto,base')
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--resolution', type=int, default=224)
    parser.add_argument('--det-size', default='base')
    parser.add_argument('--det-resolution', type=int, default=1024)
    parser.add_argument('--seg-resolution', type=int, default=512)
    parser.add_argument('--dense-batch', type=int, default=2, help='det/seg images per step')
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--no-compile', action='store_true')
    parser.add_argument('--quick', action='store_true',
                        help='CPU-sized run: atto only, batch 8 at 64px, det/seg atto at 256px')
    parser.add_argument('--out', default='outputs/benchmark')
    parser.add_argument('--force', action='store_true',
                        help='replace an earlier benchmark.json / benchmark.md in --out')
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.fcmae_sizes, args.det_size = 'atto', 'atto', 'atto'
        args.batch, args.resolution, args.det_resolution, args.seg_resolution = 8, 64, 256, 256
        args.warmup, args.iters, args.repeats = 1, 2, 3
    return args


# -- timing ------------------------------------------------------------------------------------
def main(argv=None):
    args = parse_args(argv)
    for name in ('benchmark.json', 'benchmark.md'):   # before the (long) timing, not after it
        try:
            check_output_free(os.path.join(args.out, name), args.force, 'the benchmark output')
        except WorkDirError as err:
            fail(str(err))
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine', log_level='WARNING')   # no per-parameter init dump
    cuda = args.device.startswith('cuda')
    dtype = torch.bfloat16 if cuda else None
    if not cuda:
        torch.set_num_threads(os.cpu_count() or 1)
    rows = []
    try:
        if 'backbone' in args.rows:
            rows += backbone_rows(args, dtype)
        if 'fcmae' in args.rows:
            rows += fcmae_rows(args, dtype)
        if 'det' in args.rows or 'seg' in args.rows:
            rows += dense_task_rows(args)
    except NotTheSameComputation as err:
        fail(f'benchmark: {err}', code=1)
    device = torch.cuda.get_device_name() if cuda else f'CPU ({os.cpu_count()} threads)'
    header = (f'Training steps on {device}, torch {torch.__version__}, '
              f'{"bf16 autocast (det: fp16)" if cuda else "float32"}, channels-last; '
              f'median of {args.repeats} x {args.iters} steps after {args.warmup} warm-up steps')
    table = markdown(rows, header)
    print(table)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'benchmark.json'), 'w') as f:
        json.dump(dict(header=header, args=vars(args), rows=rows), f, indent=1)
    with open(os.path.join(args.out, 'benchmark.md'), 'w') as f:
        f.write(table + '\n')
    return rows


if __name__ == '__main__':
    main()
