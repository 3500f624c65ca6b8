"""Parameters and FLOPs of a det or seg config at a given input size, to compare with the paper.

    python tools/analyze_complexity.py det_configs/mask-rcnn_convnextv2-base_fpn_lsj-3x_coco.py
    python tools/analyze_complexity.py seg_configs/... --size 2048x512

FLOPs are counted by mmengine's analyzer, which counts one multiply-accumulate as one FLOP: the
convention of the paper's tables. Detectors are counted as mmdet's get_flops does (the 'tensor'
forward: backbone, neck, RPN with its proposals, the box head on them and the mask head on the
first 100), on a random image with a randomly initialised model.
"""
import argparse


import backbones  # noqa: F401
import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import DictAction
from mmengine.registry import MODELS, init_default_scope

from engine.launch import load_config
from engine.messages import fail

# (scope, backbone size, input WxH) -> (table, #params in M or None, GFLOPs) of the paper.
PAPER = {
    ('mmdet', 'base', (1280, 800)): ('Table 6', None, 486),
    ('mmdet', 'large', (1280, 800)): ('Table 6', None, 875),
    ('mmdet', 'huge', (1280, 800)): ('Table 6', None, 2525),
    ('mmseg', 'base', (2048, 512)): ('Table 7', 122, 1170),
    ('mmseg', 'large', (2048, 512)): ('Table 7', 235, 1573),
    ('mmseg', 'huge', (2048, 512)): ('Table 7', 707, 3272),
    ('mmseg', 'huge', (2560, 640)): ('Table 7', 707, 5113),
}


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
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def example_data_samples(scope, height, width):
    """The meta information the 'tensor' forward of a detector or segmentor reads."""
    meta = dict(img_shape=(height, width), ori_shape=(height, width), pad_shape=(height, width),
                batch_input_shape=(height, width), scale_factor=(1.0, 1.0))
    if scope == 'mmdet':
        from mmdet.structures import DetDataSample
        sample = DetDataSample()
    elif scope == 'mmseg':
        from mmseg.structures import SegDataSample
        sample = SegDataSample()
    else:
        return None
    sample.set_metainfo(meta)
    return [sample]


def complexity(cfg, width, height, seed=0):
    """dict(params, flops, ...) of the config's model on one WIDTHxHEIGHT image."""
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    model_cfg = cfg.model.copy()
    model_cfg.backbone.init_cfg = None  # weights do not change the count; no file needed
    model = MODELS.build(model_cfg).eval()
    torch.manual_seed(seed)
    inputs = torch.rand(1, 3, height, width) * 255
    inputs = model.data_preprocessor(dict(inputs=[inputs[0]]), False)['inputs']
    samples = example_data_samples(scope, height, width)
    forward = model.forward

    def tensor_forward(batch):
        return forward(batch, samples, mode='tensor')

    model.forward = tensor_forward
    with torch.no_grad():
        info = get_model_complexity_info(model, inputs=(inputs,), show_table=False,
                                         show_arch=False)
    info['backbone_params'] = sum(p.numel() for p in model.backbone.parameters())
    return info


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    width, height = args.size
    if width % 32 or height % 32:
        fail(f'--size {width}x{height}: both sides must be multiples of 32 (the FPN stride)')
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
