"""Write the tiny generated image set of the toy FCMAE config (an ImageNet-style folder).

    python tools/make_synthetic_images.py data/fcmae_toy [--num 64 --size 128 --seed 0]
    python tools/pretrain_fcmae.py pretrain/configs/fcmae_convnextv2_atto_toy.py
"""
import argparse

from engine.messages import fail
from engine.work_dir_guard import WorkDirError
from pretrain.synthetic import make_image_folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', help='output root; images go to OUT/train/<class>/*.jpg')
    parser.add_argument('--num', type=int, default=64, help='number of images')
    parser.add_argument('--size', type=int, default=128, help='image side in pixels')
    parser.add_argument('--classes', type=int, default=4, help='number of class folders')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true', help='replace an existing set there')
    args = parser.parse_args(argv)
    try:
        train = make_image_folder(args.out, args.num, args.size, args.classes, args.seed,
                                  force=args.force)
    except WorkDirError as err:
        fail(str(err))
    print(f'wrote {args.num} images of {args.size}x{args.size} to {train}')


if __name__ == '__main__':
    main()
