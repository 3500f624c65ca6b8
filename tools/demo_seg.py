"""Segment one image and write it with the prediction drawn over it and a legend of the classes
present.

    python tools/demo_seg.py IMAGE CONFIG CHECKPOINT [--out result.png] [--device cuda:0]

CHECKPOINT: a segmentor checkpoint written by tools/train.py for this CONFIG (checked before
anything runs: a checkpoint of another size or model fails with one line).
"""
import argparse

import backbones  # noqa: F401  (registers ConvNeXtV2 before the config's model is built)
import mmcv

from downstream import preflight
from downstream.seg_demo import draw, predict
from engine.messages import fail
from engine.preflight import DEMO_COMMANDS, check_device, check_kind, check_output


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Draw a semantic segmentation of one image')
    parser.add_argument('image')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', default='demo_seg_result.png', help='output PNG')
    parser.add_argument('--alpha', type=float, default=0.5, help='opacity of the class colours')
    parser.add_argument('--device', default='cpu', help='cpu or cuda:0')
    parser.add_argument('--force', action='store_true', help='replace an existing --out file')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        check_device(args.device)
        check_output(args.out, args.force)
        cfg = preflight.demo_config(args.config, args.checkpoint, args.image, 'mmseg',
                                    lambda cfg: check_kind(cfg, ('seg',), 'tools/demo_seg.py',
                                                           args.config, DEMO_COMMANDS))
    except preflight.PreflightError as err:
        fail(str(err))
    prediction, model = predict(args.image, cfg, args.checkpoint, args.device)
    image = mmcv.imread(args.image, channel_order='rgb')
    names = draw(image, prediction, model.dataset_meta['classes'], model.dataset_meta['palette'],
                 args.out, alpha=args.alpha)
    print(f'{args.out}: {len(names)} classes present: {", ".join(names)}')
    return names


if __name__ == '__main__':
    main()
