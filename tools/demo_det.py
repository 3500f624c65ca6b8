"""Detect and segment the objects of one image and write the image with boxes and masks drawn.

    python tools/demo_det.py IMAGE CONFIG CHECKPOINT [--out result.jpg] [--score-thr 0.3]
"""
import argparse


import backbones  # noqa: F401
import mmcv

from downstream import preflight
from engine.messages import fail
from engine.preflight import DEMO_COMMANDS, check_device, check_kind, check_output


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Draw detections and masks on one image')
    parser.add_argument('image')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', default='demo_det_result.jpg', help='output image path')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--device', default='cpu', help='cpu or cuda:0')
    parser.add_argument('--force', action='store_true', help='replace an existing --out file')
    return parser.parse_args(argv)


def detect(image_path, config, checkpoint, device='cpu'):
    """(RGB image, DetDataSample with pred_instances, model) for one image file."""
    from mmdet.apis import inference_detector, init_detector
    model = init_detector(config, checkpoint, device=device)
    return mmcv.imread(image_path, channel_order='rgb'), inference_detector(model, image_path), model


def draw(image, result, model, out_file, score_thr):
    from mmdet.registry import VISUALIZERS
    visualizer = VISUALIZERS.build(dict(model.cfg.visualizer, name='demo_det', vis_backends=None))
    visualizer.dataset_meta = model.dataset_meta
    visualizer.add_datasample('result', image, data_sample=result, draw_gt=False, show=False,
                              pred_score_thr=score_thr, out_file=out_file)


def main(argv=None):
    args = parse_args(argv)
    try:
        check_device(args.device)
        check_output(args.out, args.force)
        cfg = preflight.demo_config(args.config, args.checkpoint, args.image, 'mmdet',
                                    lambda cfg: check_kind(cfg, ('det',), 'tools/demo_det.py',
                                                           args.config, DEMO_COMMANDS))
    except preflight.PreflightError as err:
        fail(str(err))
    image, result, model = detect(args.image, cfg, args.checkpoint, args.device)
    draw(image, result, model, args.out, args.score_thr)
    kept = int((result.pred_instances.scores >= args.score_thr).sum())
    print(f'{args.out}: {kept} objects with score >= {args.score_thr}')
    return result


if __name__ == '__main__':
    main()
