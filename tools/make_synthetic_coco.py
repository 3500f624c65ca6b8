"""Old spelling of ``python tools/make_synthetic.py coco --out OUT`` (works for one more release).

    python tools/make_synthetic.py coco --out data/synthetic_coco
"""
import argparse
import os.path as osp
import runpy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', nargs='?', default='data/synthetic_coco')
    parser.add_argument('--train', type=int, default=200)
    parser.add_argument('--val', type=int, default=50)
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--max-objects', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true')
    args = parser.parse_args(argv)
    new = ['coco', '--out', args.out_dir, '--train', str(args.train), '--val', str(args.val),
           '--size', str(args.size), '--max-objects', str(args.max_objects), '--seed', str(args.seed)]
    new += ['--force'] if args.force else []
    maker = runpy.run_path(osp.join(osp.dirname(osp.abspath(__file__)), 'make_synthetic.py'))
    maker['old_spelling'](__file__, new)


if __name__ == '__main__':
    main()
