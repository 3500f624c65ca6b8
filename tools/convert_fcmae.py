"""Convert an FCMAE pretraining checkpoint into ConvNeXt V2 backbone weights.

    python tools/convert_fcmae.py IN --out OUT [--format backbone|mmdet] [--force]

IN, any of:
  * this project's FCMAE checkpoints (work_dirs/<config>/epoch_N.pth, dense ``encoder.*`` names);
  * the official sparse pretraining output (``checkpoint-N.pth`` of the official main_pretrain.py,
    MinkowskiEngine kernels ``encoder.*.kernel``);
  * the official released dense FCMAE files (``convnextv2_<size>_1k_224_fcmae.pt``).
OUT:
  * ``--format backbone`` (default): a plain state dict with the backbone's names, for ImageNet
    finetuning (``init_cfg=dict(type='Pretrained', checkpoint=OUT)`` on ``ConvNeXtV2``);
  * ``--format mmdet``: ``{'state_dict': {'backbone.<name>': ...}}`` for mmdet / mmseg ``init_cfg``
    or ``load_from``.
The decoder, mask token, proj and pred are dropped and listed. The result is loaded strictly into
a ConvNeXt V2 of the size found before it is written (atomically); an existing OUT is kept unless
``--force``.
"""
import argparse
import sys
import warnings

from backbones.checkpoints import CheckpointError
from backbones.checkpoints.extract import FORMATS, convert_fcmae


def main(argv=None):
    parser = argparse.ArgumentParser(description='FCMAE checkpoint -> ConvNeXt V2 backbone weights')
    parser.add_argument('src', metavar='IN', help='FCMAE checkpoint (ours, official sparse or dense)')
    parser.add_argument('--out', help='output file')
    parser.add_argument('old_out', nargs='?', metavar='OUT', help=argparse.SUPPRESS)  # the old IN OUT
    parser.add_argument('--format', choices=FORMATS, default='backbone',
                        help='backbone: plain state dict; mmdet: backbone.-prefixed state_dict')
    parser.add_argument('--force', action='store_true', help='overwrite an existing OUT')
    args = parser.parse_args(argv)
    if args.old_out:
        if args.out:
            parser.error('give the output once: --out OUT')
        warnings.warn('convert_fcmae: a positional OUT is deprecated, write --out OUT (the grammar of '
                      'every tool: IN positional, --out OUT); it goes in the next release',
                      FutureWarning, stacklevel=1)
        args.out = args.old_out
    if not args.out:
        parser.error('give the output file: --out OUT')
    try:
        for line in convert_fcmae(args.src, args.out, args.format, args.force):
            print(line)
    except CheckpointError as err:
        sys.exit(f'convert_fcmae: {err}')


if __name__ == '__main__':
    main()
