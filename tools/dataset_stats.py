"""Statistics of a folder of your own unlabeled images, and the config lines that use them.

    python tools/dataset_stats.py FOLDER [--max-images N] [--out stats.txt]

Counts the images below FOLDER (any depth, mixed extensions; 8/16-bit PNG and TIFF, multi-channel
TIFF), and prints the per-channel mean and std over every pixel (in the files' own units), the
sizes, channel counts and bit depths, the files that cannot be read, and the lines to paste into
an FCMAE continue config (pretrain/configs/fcmae_convnextv2_<size>_continue_custom.py).
"""
import argparse
import os
import sys

from pretrain.dataset_stats import folder_stats, report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('folder', metavar='FOLDER', help='folder of images (any layout below it)')
    parser.add_argument('--max-images', type=int, default=None,
                        help='use a random sample of this many images (default: all)')
    parser.add_argument('--out', help='also write the report to this file (refused if it exists, '
                                      'unless --force)')
    parser.add_argument('--force', action='store_true', help='overwrite --out')
    args = parser.parse_args(argv)
    if args.max_images is not None and args.max_images < 1:
        parser.error('--max-images must be at least 1')
    if args.out and os.path.exists(args.out) and not args.force:
        sys.exit(f'dataset_stats: {args.out} exists; pass --force to replace it')
    try:
        stats = folder_stats(args.folder, args.max_images)
    except FileNotFoundError as err:
        sys.exit(f'dataset_stats: {err}')
    text = report(stats, args.folder)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    if not stats.count:
        sys.exit(1)


if __name__ == '__main__':
    main()
