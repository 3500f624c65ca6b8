"""Write a small generated ImageNet-style classification folder for the toy finetune (no download).

    python tools/make_synthetic_imagenet.py data/synthetic_imagenet
    python tools/finetune_imagenet.py finetune/configs/toy/finetune_convnextv2_atto_toy.py

Each class is a texture that fills the image (horizontal, vertical or diagonal stripes,
checkerboard, dot grid, concentric rings, a few discs, plain) in two random colours with noise,
at a random period and phase: the class is in the geometry, so it survives RandAugment's colour
operations, flips and random crops, and an Atto learns it from scratch on a CPU within minutes.
``<out>/train/<class>/*.png`` and ``<out>/val/<class>/*.png``.
"""
import argparse

from engine.messages import fail
from engine.work_dir_guard import WorkDirError
from finetune.synthetic import make_dataset


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', nargs='?', default='data/synthetic_imagenet')
    parser.add_argument('--classes', type=int, default=8)
    parser.add_argument('--train-per-class', type=int, default=64)
    parser.add_argument('--val-per-class', type=int, default=16)
    parser.add_argument('--size', type=int, default=64, help='image side in pixels')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true', help='replace an existing set there')
    args = parser.parse_args(argv)
    try:
        counts = make_dataset(args.out, args.classes, args.train_per_class, args.val_per_class,
                              args.size, args.seed, force=args.force)
    except WorkDirError as err:
        fail(str(err))
    print(f'wrote {counts["train"]} train and {counts["val"]} val images '
          f'({args.classes} classes, {args.size}x{args.size}) to {args.out}')


if __name__ == '__main__':
    main()
