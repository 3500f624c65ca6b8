"""Old spelling of ``python tools/make_synthetic.py fcmae --out OUT`` (works for one more release).

    python tools/make_synthetic.py fcmae --out data/fcmae_toy
"""
import argparse
import os.path as osp
import runpy
import warnings


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
    warnings.warn(f'{osp.basename(__file__)} is replaced by: python tools/make_synthetic.py '
                  f'{" ".join(new)} (one grammar for the four makers); this spelling goes in the '
                  f'next release', FutureWarning, stacklevel=1)
    runpy.run_path(osp.join(osp.dirname(osp.abspath(__file__)), 'make_synthetic.py'))['main'](new)


if __name__ == '__main__':
    main()
