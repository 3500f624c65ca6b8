"""Write a small synthetic semantic-segmentation set in the real ADE20K folder layout.

    python tools/make_synthetic_ade20k.py [--out data/synthetic_ade20k] [--train 96 --val 24]

gives ``<out>/ADEChallengeData2016/{images,annotations}/{training,validation}/ADE_*_%08d.{jpg,png}``:
JPEG images and single-channel PNG label maps with ADE20K's convention (0 = "other", ignored with
``reduce_zero_label``; 1..150 = the ADE20K classes). Each image is a two-part background (wall over
floor) with a few shapes on it; every shape class has its own form and hue, so a tiny model can
learn it in minutes on a CPU. A thin unlabelled (0) rim around each shape exercises the ignore
label. The toy config ``seg_configs/upernet_convnextv2-atto_toy-synthetic-ade20k.py`` reads it.
"""
import argparse

from downstream.synthetic_ade20k import make_synthetic_ade20k
from engine.messages import fail
from engine.work_dir_guard import WorkDirError


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='data/synthetic_ade20k')
    parser.add_argument('--train', type=int, default=96, help='number of training images')
    parser.add_argument('--val', type=int, default=24, help='number of validation images')
    parser.add_argument('--min-size', type=int, default=96)
    parser.add_argument('--max-size', type=int, default=128)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true', help='replace an existing set there')
    args = parser.parse_args()
    try:
        root = make_synthetic_ade20k(args.out, args.train, args.val,
                                     (args.min_size, args.max_size), args.seed, force=args.force)
    except WorkDirError as err:
        fail(str(err))
    print(f'wrote {args.train} training and {args.val} validation images to {root}')


if __name__ == '__main__':
    main()
