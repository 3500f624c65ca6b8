"""Old spelling of ``python tools/make_synthetic.py imagenet --out OUT`` (works for one more release).

    python tools/make_synthetic.py imagenet --out data/synthetic_imagenet
"""
import argparse
import os.path as osp
import runpy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out', nargs='?', default='data/synthetic_imagenet')
    parser.add_argument('--classes', type=int, default=8)
    parser.add_argument('--train-per-class', type=int, default=64)
    parser.add_argument('--val-per-class', type=int, default=16)
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true')
    args = parser.parse_args(argv)
    new = ['imagenet', '--out', args.out, '--classes', str(args.classes),
           '--train', str(args.train_per_class * args.classes),
           '--val', str(args.val_per_class * args.classes), '--size', str(args.size),
           '--seed', str(args.seed)]
    new += ['--force'] if args.force else []
    maker = runpy.run_path(osp.join(osp.dirname(osp.abspath(__file__)), 'make_synthetic.py'))
    maker['old_spelling'](__file__, new)


if __name__ == '__main__':
    main()
