"""Export the backbone of a finetuned classifier as the weights the det/seg configs initialise from.

    python tools/export_backbone.py work_dirs/finetune_convnextv2_tiny_300e_in1k/epoch_300.pth
        # -> checkpoints/convnextv2_tiny_1k_224_backbone.pth
    python tools/export_backbone.py CKPT --out PATH [--weights ema|raw] [--tag 1k_224] [--force]

CKPT: a finetune checkpoint of tools/finetune_imagenet.py (with EMA, mmengine stores the EMA weights in
``state_dict`` and the raw ones in ``ema_state_dict``), or an official / timm classifier
checkpoint. The backbone (no head, no final norm) is written as ``{'state_dict': ..., 'meta': ...}``
with the backbone's own names; the det/seg configs load it with
``init_cfg=dict(type='Pretrained', checkpoint=PATH)``. Before the file is written the weights are
loaded strictly into a ConvNeXt V2 of the size found, and read back the way ``init_cfg`` reads
them; the file is written atomically, and an existing one is kept unless ``--force``.
"""
import argparse
import sys

from backbones.checkpoints import CheckpointError
from backbones.checkpoints.extract import WEIGHTS, export_backbone


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='finetuned classifier checkpoint')
    parser.add_argument('--out', help='output file (default checkpoints/convnextv2_<size>_<tag>'
                                      '_backbone.pth)')
    parser.add_argument('--tag', default='1k_224', help='middle of the default output name')
    parser.add_argument('--weights', choices=WEIGHTS, default='auto',
                        help='auto: EMA weights when the checkpoint has them, else the raw ones')
    parser.add_argument('--force', action='store_true', help='overwrite an existing output')
    args = parser.parse_args(argv)
    try:
        for line in export_backbone(args.checkpoint, args.out, args.weights, args.tag, args.force):
            print(line)
    except CheckpointError as err:
        sys.exit(f'export_backbone: {err}')


if __name__ == '__main__':
    main()
