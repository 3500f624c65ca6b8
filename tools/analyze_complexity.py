"""Parameters and FLOPs of a det or seg config at a given input size, to compare with the paper.

    python tools/analyze_complexity.py det_configs/mask-rcnn_convnextv2-base_fpn_lsj-3x_coco.py
    python tools/analyze_complexity.py seg_configs/... --size 2048x512

FLOPs are counted by mmengine's analyzer, which counts one multiply-accumulate as one FLOP: the
convention of the paper's tables. Detectors are counted as mmdet's get_flops does (the 'tensor'
forward: backbone, neck, RPN with its proposals, the box head on them and the mask head on the
first 100), on a random image with a randomly initialised model.
"""
import argparse

from mmengine.registry import init_default_scope

from downstream.complexity import PAPER, complexity
from engine.launch import add_cfg_options, load_config
from engine.messages import fail
from engine.preflight import PreflightError, check_kind, check_model_builds


def parse_size(text):
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'size must be WIDTHxHEIGHT, e.g. 1280x800, got {text!r}')
    return width, height


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Count parameters and FLOPs of a config')
    parser.add_argument('config')
    parser.add_argument('--size', type=parse_size, default=(1280, 800),
                        help='input WIDTHxHEIGHT (default 1280x800, Table 6)')
    add_cfg_options(parser, 'model.backbone.arch=tiny')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, allow_new_keys=args.allow_new_keys)
    width, height = args.size
    if width % 32 or height % 32 or width <= 0 or height <= 0:
        fail(f'--size {width}x{height}: both sides must be positive multiples of 32 (the FPN stride)')
    try:
        check_kind(cfg, ('det', 'seg'), 'tools/analyze_complexity.py', args.config)
        init_default_scope(cfg.default_scope)
        check_model_builds(cfg.model, args.config)
    except PreflightError as err:
        fail(str(err))
    info = complexity(cfg, width, height)
    gflops = info['flops'] / 1e9
    print(f'config: {args.config}')
    print(f'input: {width}x{height}')
    print(f'params: {info["params"] / 1e6:.1f}M (backbone {info["backbone_params"] / 1e6:.1f}M)')
    print(f'FLOPs: {gflops:.1f}G (multiply-accumulates)')
    key = (cfg.get('default_scope'), cfg.model.backbone.get('arch'), (width, height))
    if key in PAPER:
        table, params, paper = PAPER[key]
        print(f'paper ({table}): {paper}G FLOPs -> {100 * (gflops / paper - 1):+.1f}%' +
              (f', {params}M params -> {100 * (info["params"] / 1e6 / params - 1):+.1f}%'
               if params else ''))
    return info


if __name__ == '__main__':
    main()
