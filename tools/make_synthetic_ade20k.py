"""Old spelling of ``python tools/make_synthetic.py ade20k --out OUT`` (works for one more release).

    python tools/make_synthetic.py ade20k --out data/synthetic_ade20k
"""
import argparse
import os.path as osp
import runpy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='data/synthetic_ade20k')
    parser.add_argument('--train', type=int, default=96)
    parser.add_argument('--val', type=int, default=24)
    parser.add_argument('--min-size', type=int, help='must be 3/4 of --max-size (the new grammar)')
    parser.add_argument('--max-size', type=int, default=128, help='sides are drawn in [0.75 x it, it]')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true')
    args = parser.parse_args(argv)
    if args.min_size is not None and args.min_size != args.max_size * 3 // 4:
        parser.error('--min-size: sides are now drawn in [0.75 x --size, --size]; give --max-size only')
    new = ['ade20k', '--out', args.out, '--train', str(args.train), '--val', str(args.val),
           '--size', str(args.max_size), '--seed', str(args.seed)]
    new += ['--force'] if args.force else []
    maker = runpy.run_path(osp.join(osp.dirname(osp.abspath(__file__)), 'make_synthetic.py'))
    maker['old_spelling'](__file__, new)


if __name__ == '__main__':
    main()
