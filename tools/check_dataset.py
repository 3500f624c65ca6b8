"""Decode every image (and label map) of a config's training and validation sets; list the bad ones.

    python tools/check_dataset.py CONFIG [--workers N] [--out bad_files.txt] [--cfg-options k=v ...]

Works for det (COCO), seg (ADE20K), finetune (ImageNet folders) and FCMAE configs. A file is bad
when it is empty, cut short, not decodable, or (a label map) not of its image's size; training
would skip such files (README "Long runs"), this finds them all up front. The list, one
``path<TAB>reason`` per line, goes to --out (default <work_dir>/bad_files.txt). Exit code 1 when
any file is bad. The preflight in tools/train.py stays quick: it only checks that files exist.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction
from mmengine.registry import DATASETS, init_default_scope

from engine.atomic_io import atomic_write_text
from engine.dataset_check import check_samples, sample_files
from engine.launch import load_config
from engine.messages import fail

LOADERS = ('train_dataloader', 'val_dataloader')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--workers', type=int, default=os.cpu_count(),
                        help='decoding processes (default: all cores)')
    parser.add_argument('--out', help='list of bad files (default <work_dir>/bad_files.txt)')
    parser.add_argument('--work-dir')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def datasets_of(cfg):
    """(loader name, built dataset) for the config's train and val sets."""
    if cfg.get('recipe') is not None:   # finetune configs derive their datasets from the recipe
        from finetune.recipe import apply_recipe
        apply_recipe(cfg)
    init_default_scope(cfg.get('default_scope') or 'mmengine')
    for loader in LOADERS:
        if cfg.get(loader):
            yield loader, DATASETS.build(cfg[loader].dataset)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir)
    bad = []
    try:
        datasets = list(datasets_of(cfg))
    except (FileNotFoundError, ValueError) as err:   # the datasets' own one-line messages
        fail(str(err))
    for loader, dataset in datasets:
        entries = sample_files(dataset)
        print(f'{loader}: {len(entries)} samples', file=sys.stderr, flush=True)
        bad += check_samples(entries, args.workers, progress=not args.no_progress)
    out = args.out or osp.join(cfg.work_dir, 'bad_files.txt')
    bad = sorted(set(bad))
    atomic_write_text(''.join(f'{path}\t{reason}\n' for path, reason in bad), out)
    for path, reason in bad:
        print(f'{path}: {reason}')
    if bad:
        fail(f'{len(bad)} bad file(s), listed in {out}: fix or remove them (training skips them, '
             'up to SkippedSamplesHook\'s limit)', code=1)
    print(f'all files decode; empty list written to {out}')
    return bad


if __name__ == '__main__':
    main()
