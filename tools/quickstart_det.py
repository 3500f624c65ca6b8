"""The embedded default: train the toy Mask R-CNN ConvNeXt V2-atto on synthetic COCO and show it learnt.

    python tools/quickstart_det.py

1. makes the synthetic COCO-format set in data/synthetic_coco unless it is there;
2. evaluates an untrained model (random initialisation) with the COCO evaluator;
3. trains det_configs/mask-rcnn_convnextv2-atto_fpn_synthetic-coco.py with tools/train.py (a few
   minutes on a 2-core CPU) and evaluates the result with tools/test.py;
4. prints box and mask AP of both and exits non-zero unless the trained model is clearly better.

Run again, it replaces its own earlier outputs in --work-dir (untrained.pth, metrics_*.json, test_*/,
train/ with the training checkpoints: tools/train.py --overwrite, tools/test.py --force) and says so.

Steps 2-3 run the same tools/train.py and tools/test.py commands as real COCO training does.
"""
import json
import os.path as osp
import sys
import time

from engine.cli_values import OneLineParser, non_negative_int, positive_int
from engine.messages import fail
from reports.commands import run_tool
from reports.quickstart import (SET_SIZES, TOY_CONFIG, children_cpu_seconds, data_options,
                                ensure_dataset, evaluate, report, schedule_options,
                                write_untrained_checkpoint)


def parse_args(argv=None):
    parser = OneLineParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/synthetic_coco')
    parser.add_argument('--work-dir', default='work_dirs/default_det')
    parser.add_argument('--config', default=TOY_CONFIG)
    parser.add_argument('--epochs', type=positive_int, help='override the toy config\'s max_epochs')
    parser.add_argument('--seed', type=non_negative_int, default=0, help='training seed (reproducible runs)')
    parser.add_argument('--train-images', type=positive_int,
                        help=f'when the set is generated (default {SET_SIZES[0]}); a set already '
                             'in --data-root must hold this many')
    parser.add_argument('--val-images', type=positive_int,
                        help=f'when the set is generated (default {SET_SIZES[1]}); likewise')
    parser.add_argument('--min-gain', type=float, default=0.01,
                        help='trained box and mask AP must exceed the untrained ones by this much')
    parser.add_argument('--min-gain-50', type=float, default=0.05,
                        help='... and their AP at IoU 0.5 by this much')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.config):
        fail(f'--config {args.config} does not exist; pass a det config (default: the toy one)')
    for option, folder in (('--data-root', args.data_root), ('--work-dir', args.work_dir)):
        if osp.exists(folder) and not osp.isdir(folder):
            fail(f'{option} {folder} is a file, not a folder; pass another path')
    try:
        ensure_dataset(args.data_root, args.train_images, args.val_images)
    except ValueError as err:
        fail(str(err))
    options = data_options(args.data_root)
    if args.epochs is not None:
        options += schedule_options(args.config, args.epochs)
    train_options = options + [f'randomness.seed={args.seed}', 'val_cfg=None',
                               'val_dataloader=None', 'val_evaluator=None']

    train_dir = osp.join(args.work_dir, 'train')
    if osp.isfile(osp.join(args.work_dir, 'default_result.json')) or osp.isdir(train_dir):
        print(f'replacing the previous quickstart run\'s outputs in {args.work_dir}')
    untrained_ckpt = write_untrained_checkpoint(
        args.config, options, osp.join(args.work_dir, 'untrained.pth'))
    untrained = evaluate(args.config, untrained_ckpt, options, args.work_dir, 'untrained')

    start, cpu_start = time.time(), children_cpu_seconds()
    run_tool('train.py', args.config, '--work-dir', train_dir, '--overwrite',
             '--cfg-options', *train_options)
    train_seconds, train_cpu = time.time() - start, children_cpu_seconds() - cpu_start
    with open(osp.join(train_dir, 'last_checkpoint')) as f:
        trained_ckpt = f.read().strip()
    trained = evaluate(args.config, trained_ckpt, options, args.work_dir, 'trained')

    ok = report(untrained, trained, train_seconds, train_cpu, args.min_gain, args.min_gain_50)
    with open(osp.join(args.work_dir, 'default_result.json'), 'w') as f:
        json.dump(dict(untrained=untrained, trained=trained, train_seconds=train_seconds,
                       train_cpu_seconds=train_cpu, ok=ok), f, indent=1)
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
