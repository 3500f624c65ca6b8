"""Generate a small synthetic data set in the real layout of COCO, ADE20K or an ImageNet folder.

    python tools/make_synthetic.py coco --out data/synthetic_coco          # Mask R-CNN toy, quickstart
    python tools/make_synthetic.py ade20k --out data/synthetic_ade20k      # UperNet toy
    python tools/make_synthetic.py imagenet --out data/synthetic_imagenet  # finetune toy, analyses
    python tools/make_synthetic.py fcmae --out data/fcmae_toy              # FCMAE toy (train/ only)

KIND    what OUT receives (each generator's docstring says how the pictures are drawn)
coco    annotations/instances_{train,val}2017.json, train2017/, val2017/: four shape classes, polygon
        and RLE masks of the visible parts
ade20k  ADEChallengeData2016/{images,annotations}/{training,validation}/: JPEGs and PNG label maps
        (0 = "other", 1..150 the classes), sides drawn in [0.75 x --size, --size]
imagenet train/<class>/*.png, val/<class>/*.png: one texture per class (--train/--val are totals,
        split evenly over --classes)
fcmae   train/<class>/*.jpg: the FCMAE toy's unlabelled pictures (no val split)

Every kind takes the same options; an existing set is replaced only with --force.
"""
import argparse
import os.path as osp
import warnings

from downstream.synthetic_ade20k import make_synthetic_ade20k
from downstream.synthetic_coco import make_synthetic_coco
from engine.messages import fail
from engine.work_dir_guard import WorkDirError
from finetune.synthetic import make_dataset
from pretrain.synthetic import make_image_folder

# kind -> default out, train images, val images, image side, classes (None: fixed by the kind)
DEFAULTS = {
    'coco': ('data/synthetic_coco', 200, 50, 128, None),
    'ade20k': ('data/synthetic_ade20k', 96, 24, 128, None),
    'imagenet': ('data/synthetic_imagenet', 512, 128, 64, 8),
    'fcmae': ('data/fcmae_toy', 64, 0, 128, 4),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n', 2)[2])
    parser.add_argument('kind', choices=sorted(DEFAULTS))
    parser.add_argument('--out', help='output folder (default: data/synthetic_KIND, data/fcmae_toy)')
    parser.add_argument('--train', type=int, help='number of training images')
    parser.add_argument('--val', type=int, help='number of validation images')
    parser.add_argument('--size', type=int, help='longest image side in pixels')
    parser.add_argument('--classes', type=int, help='classes (imagenet, fcmae)')
    parser.add_argument('--max-objects', type=int, help='shapes drawn per image (coco; default 5)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true', help='replace an existing set there')
    args = parser.parse_args(argv)
    out, train, val, size, classes = DEFAULTS[args.kind]
    given = {name: getattr(args, name) for name in ('out', 'train', 'val', 'size', 'classes')}
    args.out, args.train, args.val, args.size, args.classes = (
        default if given[name] is None else given[name]
        for name, default in zip(given, (out, train, val, size, classes)))
    if given['classes'] is not None and classes is None:
        parser.error(f'--classes: the {args.kind} set has a fixed set of classes')
    if args.max_objects is not None and args.kind != 'coco':
        parser.error('--max-objects is for the coco kind only')
    if args.kind == 'fcmae' and args.val:
        parser.error('--val: the fcmae set is unlabelled training pictures only (no val split)')
    if args.train < 1 or args.val < (args.kind != 'fcmae') or args.size < 16:
        parser.error('need --train >= 1, --val >= 1 (0 for fcmae) and --size >= 16')
    if args.kind == 'coco' and args.size < 64:
        parser.error('--size: the coco set needs images of at least 64 pixels')
    if args.kind == 'imagenet' and (args.train % args.classes or args.val % args.classes):
        parser.error(f'--train {args.train} and --val {args.val} must be multiples of --classes '
                     f'{args.classes} (each class gets the same number of images)')
    return args


def make(args):
    """Write the set; return the line that says what was written."""
    if args.kind == 'coco':
        paths = make_synthetic_coco(args.out, args.train, args.val, args.size,
                                    args.max_objects or 5, args.seed, force=args.force)
        return f'wrote {args.train} train and {args.val} val images to {args.out} ({", ".join(paths)})'
    if args.kind == 'ade20k':
        root = make_synthetic_ade20k(args.out, args.train, args.val,
                                     (args.size * 3 // 4, args.size), args.seed, force=args.force)
        return f'wrote {args.train} training and {args.val} validation images to {root}'
    if args.kind == 'imagenet':
        counts = make_dataset(args.out, args.classes, args.train // args.classes,
                              args.val // args.classes, args.size, args.seed, force=args.force)
        return (f'wrote {counts["train"]} train and {counts["val"]} val images ({args.classes} '
                f'classes, {args.size}x{args.size}) to {args.out}')
    train = make_image_folder(args.out, args.train, args.size, args.classes, args.seed,
                              force=args.force)
    return f'wrote {args.train} images of {args.size}x{args.size} to {train}'


def main(argv=None):
    args = parse_args(argv)
    try:
        print(make(args))
    except WorkDirError as err:
        fail(str(err))


def old_spelling(tool_file, argv):
    """What the old make_synthetic_* tools run (one more release): this tool, with a warning."""
    warnings.warn(f'{osp.basename(tool_file)} is replaced by: python tools/make_synthetic.py '
                  f'{" ".join(argv)} (one grammar for the four makers); this spelling goes in the '
                  f'next release', FutureWarning, stacklevel=1)
    main(argv)


if __name__ == '__main__':
    main()
