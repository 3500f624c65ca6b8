"""Old spelling of ``python tools/make_synthetic.py fcmae --out OUT`` (works for one more release).

    python tools/make_synthetic.py fcmae --out data/fcmae_toy
"""
import argparse
import os.path as osp
import runpy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out')
    parser.add_argument('--num', type=int, default=64)
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--classes', type=int, default=4)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true')
    args = parser.parse_args(argv)
    new = ['fcmae', '--out', args.out, '--train', str(args.num), '--size', str(args.size),
           '--classes', str(args.classes), '--seed', str(args.seed)]
    new += ['--force'] if args.force else []
    maker = runpy.run_path(osp.join(osp.dirname(osp.abspath(__file__)), 'make_synthetic.py'))
    maker['old_spelling'](__file__, new)


if __name__ == '__main__':
    main()
