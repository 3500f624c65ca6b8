"""The paper's feature analyses (§3.3, Appendix C) for one or more ConvNeXt V2 checkpoints:

* cosine distance (Figure 4): per block, the MLP expansion output after GELU and after GRN,
  1/C^2 sum_ij (1 - cos(X_i, X_j)) / 2 per image, averaged; against the normalised layer index;
* activation maps (Figure 3): 64 channels of one block for one image, as a grid of small squares;
* class selectivity index (Figure 7): per channel of every residual block output, as densities.

    python tools/analyze_features.py CKPT [CKPT ...] --images DIR [--out feature_analysis]
        [--analyses distance maps selectivity] [--num-images 1000] [--size 224]
        [--batch-size 32] [--device cuda] [--dtype bf16] [--names V2-FCMAE V2-finetuned]

CKPT: any layout the project's loader reads (official, timm, FCMAE, a finetuned classifier,
an mmdet / mmseg checkpoint), any size. DIR: ImageNet-style DIR/<class>/*.jpg (the class folders
are the labels the selectivity needs; a flat folder gives the other two analyses). Writes
cosine_distance.{png,csv}, activation_maps.png, selectivity.{png,csv} into --out.
"""
import argparse
import warnings

import torch

from analysis.images import ImageSetError
from analysis.run import ANALYSES, DTYPES, Options, analyze
from backbones.checkpoints import CheckpointError
from engine.messages import fail
from engine.preflight import PreflightError, check_device, check_output


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Feature cosine distance, activation maps and class selectivity (paper "
                    "Figures 4, 3, 7) of ConvNeXt V2 checkpoints")
    parser.add_argument('checkpoints', nargs='+', metavar='CKPT', help='checkpoint files')
    parser.add_argument('--images', required=True, metavar='DIR',
                        help='ImageNet-style folder DIR/<class>/*.jpg (or a flat folder)')
    parser.add_argument('--out', default='feature_analysis', help='folder for the PNGs and CSVs')
    parser.add_argument('--out-dir', dest='old_out', help=argparse.SUPPRESS)   # the old --out
    parser.add_argument('--analyses', nargs='+', choices=ANALYSES, default=list(ANALYSES))
    parser.add_argument('--num-images', type=int, default=1000,
                        help='class-balanced subset size (paper: 1,000 ImageNet val images)')
    parser.add_argument('--size', type=int, default=224, help='centre-crop side in pixels')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--workers', type=int, default=0, help='DataLoader worker processes')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--dtype', choices=sorted(DTYPES), default='fp32',
                        help='model precision (autocast); statistics are always float32/64')
    parser.add_argument('--names', nargs='+', default=[], help='legend names, one per CKPT')
    parser.add_argument('--map-layer', help='block of the activation maps, e.g. stages.2.3 '
                        '(default: the middle block of stage 3)')
    parser.add_argument('--map-tap', choices=('gelu', 'grn', 'block'), default='gelu',
                        help='activation maps after GELU (default, Figure 3), after GRN, or of '
                             'the block output')
    parser.add_argument('--map-image', type=int, default=0,
                        help='index of the activation maps image in the subset')
    parser.add_argument('--selectivity-tap', choices=('block', 'gelu', 'grn'), default='block',
                        help='features of the selectivity index (default: block output, as Figure 7)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the image subset')
    parser.add_argument('--force', action='store_true',
                        help='write into an --out folder that already holds files')
    args = parser.parse_args(argv)
    if args.old_out:
        warnings.warn('analyze_features: --out-dir is renamed --out (the grammar of every tool); '
                      '--out-dir goes in the next release', FutureWarning, stacklevel=1)
        args.out = args.old_out
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.size % 32 or args.size <= 0:
        fail(f'--size {args.size} is not a positive multiple of 32 (the backbone stride)')
    for option in ('num_images', 'batch_size'):
        if getattr(args, option) <= 0:
            fail(f'--{option.replace("_", "-")} {getattr(args, option)}: must be a positive integer')
    try:
        check_device(args.device)
        check_output(args.out, args.force, folder=True)
    except PreflightError as err:
        fail(str(err))
    options = Options(
        images=args.images, out_dir=args.out, analyses=tuple(args.analyses),
        num_images=args.num_images, size=args.size, batch_size=args.batch_size,
        workers=args.workers, device=args.device, dtype=args.dtype, map_layer=args.map_layer,
        map_tap=args.map_tap, map_image=args.map_image, selectivity_tap=args.selectivity_tap,
        seed=args.seed, names=args.names)
    try:
        results = analyze(args.checkpoints, options)
    except (CheckpointError, ImageSetError, ValueError, FloatingPointError) as err:
        fail(str(err))
    for path in results['files']:
        print(f'wrote {path}')
    return results


if __name__ == '__main__':
    main()
