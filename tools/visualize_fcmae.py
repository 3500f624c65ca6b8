"""Picture of FCMAE reconstructions, one row per image:
original | masked input | reconstruction | reconstruction with the visible patches pasted back.

    python tools/visualize_fcmae.py CKPT IMAGE_OR_FOLDER [...] --out recon.png
        [--num 4] [--size 224] [--mask-ratio 0.6] [--seed 0] [--raw-pixels]

CKPT: any FCMAE checkpoint (this project's, the official sparse or dense one); the size and the
decoder are read from its weights. A model trained with ``norm_pix_loss=True`` (the default)
predicts per-patch normalised pixels; as in MAE's demo they are shown with the mean and variance
of the true patch put back (``--raw-pixels`` for models trained with ``norm_pix_loss=False``).
"""
import argparse

import torch

from backbones.checkpoints import CheckpointError
from engine.messages import fail
from engine.preflight import PreflightError, check_output
from pretrain.visualize import fcmae_from_checkpoint, load_images, picture, reconstruct


def main(argv=None):
    parser = argparse.ArgumentParser(description='FCMAE original / masked / reconstruction picture')
    parser.add_argument('checkpoint', help='FCMAE checkpoint')
    parser.add_argument('images', nargs='+', help='image files or folders')
    parser.add_argument('--out', default='fcmae_reconstruction.png', help='PNG to write')
    parser.add_argument('--num', type=int, default=4, help='number of images')
    parser.add_argument('--size', type=int, default=224, help='square crop side, multiple of 32')
    parser.add_argument('--mask-ratio', type=float, default=0.6)
    parser.add_argument('--seed', type=int, default=0, help='seed of the random masks')
    parser.add_argument('--force', action='store_true', help='replace an existing --out file')
    parser.add_argument('--raw-pixels', action='store_true',
                        help='the model was trained with norm_pix_loss=False')
    args = parser.parse_args(argv)
    if args.size % 32 or args.size <= 0:
        fail(f'--size {args.size} is not a positive multiple of 32 (the FCMAE patch)')
    if args.num <= 0 or not 0 < args.mask_ratio < 1:
        fail(f'--num {args.num} / --mask-ratio {args.mask_ratio}: need --num > 0 and a mask '
             'ratio between 0 and 1')
    try:
        check_output(args.out, args.force)
    except PreflightError as err:
        fail(str(err))
    try:
        model = fcmae_from_checkpoint(args.checkpoint)
    except CheckpointError as err:
        fail(str(err))
    try:
        images = load_images(args.images, args.num, args.size)
    except (OSError, FileNotFoundError) as err:
        fail(str(err))
    torch.manual_seed(args.seed)
    loss, *columns = reconstruct(model, images, args.mask_ratio, args.raw_pixels)
    picture(columns).save(args.out)
    print(f'wrote {args.out}: {images.shape[0]} images, mask ratio {args.mask_ratio}, '
          f'loss on removed patches {loss.item():.4f}')


if __name__ == '__main__':
    main()
