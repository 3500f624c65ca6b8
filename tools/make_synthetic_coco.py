"""Generate a small synthetic instance-segmentation set in real COCO format.

Layout (the same as COCO 2017, so the det configs only change paths)::

    OUT/annotations/instances_train2017.json
    OUT/annotations/instances_val2017.json
    OUT/train2017/000000000001.jpg ...
    OUT/val2017/...

Each image holds a few filled shapes of four classes on a low-saturation textured background;
each class has its own hue family (so colour and shape both tell the class, which lets a detector
trained from scratch on a CPU learn it in minutes). Later shapes occlude earlier ones; every annotation describes the visible part only (area, bbox, mask), and
instances left with too little visible area are dropped, as COCO annotators would. Masks are
stored as polygons, except for rings (their hole needs it) and any instance split into several
parts by occlusion, which are stored as compressed RLE.

    python tools/make_synthetic_coco.py data/synthetic_coco --train 200 --val 50
"""
import argparse
import json
import sys

from downstream.synthetic_coco import make_synthetic_coco
from engine.messages import fail
from engine.work_dir_guard import WorkDirError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', nargs='?', default='data/synthetic_coco')
    parser.add_argument('--train', type=int, default=200, help='number of training images')
    parser.add_argument('--val', type=int, default=50, help='number of validation images')
    parser.add_argument('--size', type=int, default=128, help='longest image side in pixels')
    parser.add_argument('--max-objects', type=int, default=5, help='shapes drawn per image')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true', help='replace an existing set there')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.train < 1 or args.val < 1 or args.size < 64:
        sys.exit('make_synthetic_coco: need --train >= 1, --val >= 1 and --size >= 64')
    try:
        paths = make_synthetic_coco(args.out_dir, args.train, args.val, args.size,
                                    args.max_objects, args.seed, force=args.force)
    except WorkDirError as err:
        fail(str(err))
    for path in paths:
        with open(path) as f:
            coco = json.load(f)
        print(f'{path}: {len(coco["images"])} images, {len(coco["annotations"])} instances')


if __name__ == '__main__':
    main()
