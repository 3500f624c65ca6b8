"""Prove the GPU path in one command: every training of the toolkit for a few iterations.

Rows (each built from its real config, only sizes/iterations/data changed: reports/gpu_runs.py):
  mask-rcnn          det_configs/mask-rcnn_convnextv2-SIZE_fpn_lsj-3x_coco.py, LSJ crops + masks, fp16 AMP
  cascade-mask-rcnn  det_configs/cascade-mask-rcnn_convnextv2-SIZE_fpn_4conv1fc-giou_ms-crop-3x_coco.py
                     ('config missing' while that file does not exist)
  upernet            seg_configs/upernet_convnextv2-SIZE_8xb2-amp-160k_ade20k-512x512.py, bf16 AMP
  fcmae              pretrain/configs/fcmae_convnextv2_SIZE_800e_in1k.py, sparse encoder, bf16 AMP
  finetune           finetune/configs/finetune_convnextv2_SIZE_*e_in1k.py, mixup/cutmix + EMA, bf16 AMP
each eager, then with the backbone compiled (model.backbone.compile) for the runs in --compile.
On a machine without a GPU every run trains in fp32 (engine/launch.py fit_to_machine).
A row fails when an iteration raises or a loss is not finite; the command then exits 1 naming
each failed row. Writes OUT/gpu_check.json and OUT/gpu_check.md (the table it prints).

Defaults: GPU: base, det 1024, seg 512, images 224, the configs' per-GPU batches (det 2, seg 2,
FCMAE 64, finetune 64), 3 warm-up + 10 timed iterations, every compilable run also compiled;
CPU: atto, det/seg 128, images 64, batch 2/2/4/4, 32 RoIs, 1 + 2 iterations, nothing compiled.

Expected time of the default GPU check on one H200 (base; NOT measured yet). Forward GMACs per
image counted with mmengine's analyzer (downstream/complexity.py; the paper's convention, one
multiply-add = one FLOP; detectors at test time, 1000 proposals): Mask R-CNN 496 at 1024^2 (Table 6:
486 at 1280x800), Cascade 2405 at 1024^2, UperNet 293 at 512^2 (Table 7: 1170 at 2048x512 = 4x),
classifier 15.4 at 224^2 (the paper's 15.4G), FCMAE sparse 6.5 at 224^2. A training iteration is
~3x its forward; the floor below assumes a sustained 150 TFLOP/s (2 FLOPs per MAC; ~20% of the
H200's dense bf16 peak), the estimate adds the latency-bound work (proposals, assignment, RoIAlign,
mask targets, the optimizer over ~100M parameters); build times are scaled from the atto builds
measured on the CPU (2-3 s each; the device builds on its CPU too), compile times a guess:
  row (base)               GMACs/iter  floor s/iter  expected s/iter  build s  row total s
  mask-rcnn eager, fp16    992         0.04          ~0.25            ~15      ~25
  cascade-mask-rcnn, fp16  <=4810      <=0.19        ~0.5             ~20      ~35
  upernet eager, bf16      585         0.02          ~0.15            ~10      ~15
  fcmae eager, bf16        417         0.02          ~0.15            ~5       ~10
  finetune eager, bf16     985         0.04          ~0.12            ~5       ~10
  each compiled row        same        same          -10..-30%        +60..120 ~70..130
Eager rows ~100 s plus ~15 s of imports; the compiled rows follow (finetune, upernet, mask-rcnn,
cascade). The install (source .whl/setup_device.sh) takes ~5 min, so the default --budget-s 270
keeps the check within the other 5 of a 10-minute call: a row whose build (+ compile allowance:
reports/gpu_check.py STARTUP_S) would not fit is skipped, a row is cut to the iterations that fit,
and both are said in the row's note and the closing line. Measured CPU table: docs/benchmarks.md.

Examples:
  source .whl/setup_device.sh && python tools/gpu_check.py --out $OUT   # on the GPU machine
  python tools/gpu_check.py --device cpu                                 # CPU: atto, small sizes
  python tools/gpu_check.py --device cpu --ddp 2 --runs finetune         # 2-process DDP (gloo)
"""
import argparse
import math
import sys

import torch

from engine.messages import fail
from engine.work_dir_guard import WorkDirError, check_output_free


def parse_args(argv=None):
    from backbones.variants import ARCHS
    from engine.cli_values import OneLineParser, device, names, non_negative_int, one_of, positive_int
    from reports import gpu_check, gpu_runs
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', type=device, default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--size', type=one_of(ARCHS, 'size'),
                        help='backbone size (default: base on a GPU, atto on a CPU)')
    parser.add_argument('--runs', type=names(gpu_runs.RUNS, 'run'), default=list(gpu_runs.RUNS),
                        help='comma-separated rows (default: all)')
    parser.add_argument('--compile', type=names(gpu_runs.COMPILABLE + ('none',), 'compilable run'),
                        help='runs also timed with the backbone compiled (default: '
                        f'{",".join(gpu_runs.COMPILABLE)} on a GPU, none on a CPU; FCMAE\'s encoder is '
                        'sparse and stays eager)')
    parser.add_argument('--compile-backend', default='inductor',
                        help='torch.compile backend (aot_eager: no code generation, for CPU tests)')
    parser.add_argument('--det-resolution', type=positive_int, help='det crop side (default 1024 GPU / 128 CPU)')
    parser.add_argument('--seg-resolution', type=positive_int, help='seg crop side (default 512 GPU / 128 CPU)')
    parser.add_argument('--resolution', type=positive_int, help='FCMAE/finetune image side (224 GPU / 64 CPU)')
    parser.add_argument('--batch', type=positive_int, help='images per process for every row '
                        '(default: the configs\' per-GPU batch on a GPU, 2/2/4/4 on a CPU)')
    parser.add_argument('--rois', type=positive_int, help='RoIs sampled per image by each R-CNN stage '
                        '(default: the configs\' 512 on a GPU, 32 on a CPU)')
    parser.add_argument('--warmup', type=non_negative_int,
                        help='untimed iterations per row (default 3 GPU / 1 CPU)')
    parser.add_argument('--iters', type=positive_int, help='timed iterations per row (default 10 GPU / 2 CPU)')
    parser.add_argument('--budget-s', type=float, default=270.0,
                        help='seconds for the whole check (inf: no limit); default 270')
    parser.add_argument('--ddp', type=positive_int, default=1, metavar='N',
                        help='N processes under DDP (NCCL with N GPUs, gloo on the CPU)')
    parser.add_argument('--ddp-timeout-s', type=float, default=300.0, help='collective timeout')
    parser.add_argument('--inject-nan', type=names(gpu_runs.RUNS, 'run'), default=[], metavar='RUNS',
                        help='make these runs\' loss NaN (checks that a broken run fails the check)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default='outputs/gpu_check')
    parser.add_argument('--force', action='store_true', help='replace an earlier gpu_check.json/.md')
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    kind = 'cuda' if args.device.startswith('cuda') else 'cpu'
    if args.device not in ('cpu', 'cuda') and not args.device.startswith('cuda:'):
        fail(f'gpu_check: --device {args.device}: use cpu, cuda or cuda:N')
    for key, value in gpu_check.DEFAULTS[kind].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.compile is None:
        args.compile = list(gpu_runs.COMPILABLE) if kind == 'cuda' else []
    args.compile = [run for run in args.compile if run != 'none']
    for key in ('det_resolution', 'seg_resolution', 'resolution'):
        if getattr(args, key) % 32:
            fail(f'gpu_check: --{key.replace("_", "-")} {getattr(args, key)} must be a multiple of 32 '
                 '(the backbone downsamples by 32)')
    if math.isnan(args.budget_s) or args.budget_s < 0:
        fail(f'gpu_check: --budget-s {args.budget_s}: a number of seconds >= 0 (or inf)')
    return args


def main(argv=None):
    args = parse_args(argv)
    for name in ('gpu_check.json', 'gpu_check.md'):   # before the check, not after it
        try:
            check_output_free(f'{args.out}/{name}', args.force, 'the gpu_check output')
        except WorkDirError as err:
            fail(str(err))
    from reports.gpu_check import ddp_backend, main_check
    if args.ddp > 1 and ddp_backend(args.ddp)[0] is None:
        fail(ddp_backend(args.ddp)[1])
    from torch.multiprocessing.spawn import ProcessExitedException, ProcessRaisedException
    try:
        return main_check(args)
    except (ProcessRaisedException, ProcessExitedException) as err:   # DDP: one process broke
        last = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        fail(f'gpu_check --ddp {args.ddp}: a process failed, so the DDP run stopped: {last}', code=1)


if __name__ == '__main__':
    sys.exit(main())
