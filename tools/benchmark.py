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
from backbones import fused_grn
from backbones.variants import ARCHS
from engine.cli_values import OneLineParser, device, names, non_negative_int, one_of, positive_int
from engine.messages import fail
from engine.preflight import PreflightError, check_writable
from engine.work_dir_guard import WorkDirError, check_output_free


ROWS = ('backbone', 'fcmae', 'det', 'seg')
# (every row at the settings, --quick: a CPU-sized run); an option given explicitly wins
DEFAULTS = dict(sizes=(['atto', 'tiny', 'base'], ['atto']), fcmae_sizes=(['atto', 'base'], ['atto']),
                det_size=('base', 'atto'), batch=(64, 8), resolution=(224, 64),
                det_resolution=(1024, 256), seg_resolution=(512, 256), warmup=(5, 1), iters=(10, 2),
                repeats=(5, 3))


def parse_args(argv=None):
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--device', type=device, default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--rows', type=names(ROWS, 'row'), default=list(ROWS),
                        help=f'comma-separated, of {",".join(ROWS)} (default: all)')
    sizes = names(ARCHS, 'size')
    parser.add_argument('--sizes', type=sizes, help='backbone row sizes (default atto,tiny,base)')
    parser.add_argument('--fcmae-sizes', type=sizes, help='default atto,base')
    parser.add_argument('--batch', type=positive_int, help='default 64')
    parser.add_argument('--resolution', type=positive_int, help='default 224')
    parser.add_argument('--det-size', type=one_of(ARCHS, 'size'), help='det and seg row size (default base)')
    parser.add_argument('--det-resolution', type=positive_int, help='default 1024')
    parser.add_argument('--seg-resolution', type=positive_int, help='default 512')
    parser.add_argument('--dense-batch', type=positive_int, default=2, help='det/seg images per step')
    parser.add_argument('--warmup', type=non_negative_int, help='default 5')
    parser.add_argument('--iters', type=positive_int, help='default 10')
    parser.add_argument('--repeats', type=positive_int, help='default 5')
    parser.add_argument('--no-compile', action='store_true')
    parser.add_argument('--quick', action='store_true',
                        help='CPU-sized defaults: atto only, batch 8 at 64px, det/seg atto at 256px, '
                             '1 warm-up, 2 iters, 3 repeats (options given explicitly still win)')
    parser.add_argument('--out', default='outputs/benchmark')
    parser.add_argument('--force', action='store_true',
                        help='replace an earlier benchmark.json / benchmark.md in --out')
    args = parser.parse_args(argv)
    for name, (full, quick) in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    return args


# -- timing ------------------------------------------------------------------------------------
def main(argv=None):
    args = parse_args(argv)
    try:   # before the (long) timing, not after it
        check_writable(args.out, '--out', folder=True)
        for name in ('benchmark.json', 'benchmark.md'):
            check_output_free(os.path.join(args.out, name), args.force, 'the benchmark output')
    except (PreflightError, WorkDirError) as err:
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
              f'{"bf16 autocast (det: fp16)" if cuda else "float32"}, channels-last, GRN '
              f'{"fused (Triton, CNV2_FUSED_GRN=1)" if cuda and fused_grn.ENABLED else "plain torch"}; '
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
