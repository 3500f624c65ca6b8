"""Check a config's training and validation sets in full: every file decodes, and the content fits.

    python tools/check_dataset.py CONFIG [--workers N] [--out bad_files.txt] [--force] [--cfg-options k=v ...]

Works for det (COCO), seg (ADE20K), finetune (ImageNet folders) and FCMAE configs.

1. The sets' content, before any file is decoded (downstream/dataset_content.py): every head's
   num_classes is the dataset's class count; a COCO file's image and category ids hold together,
   its boxes are [x, y, w, h] with w, h > 0, no annotation is of a category outside the config's
   classes (boxes the loader will drop are counted). Each problem is one ``error:`` line (exit 1).
2. Every sample: an image is bad when it is empty, cut short or not decodable; a label map also when
   it is not of its image's size or holds values outside the class range (and the ignore index).
   Training would skip unreadable files (README "Long runs"); this finds them all up front. The
   list, one ``path<TAB>reason`` per line, goes to --out (default <work_dir>/bad_files.txt; an
   existing list is replaced only with --force). Exit code 1 when any file is bad.
The preflight of tools/train.py runs the quick checks of step 1 (not the decoding).
"""
import os
import os.path as osp
import sys
import warnings

from mmengine.config import DictAction
from mmengine.registry import DATASETS, init_default_scope

from downstream.dataset_content import lazy_copy, leaf_datasets, sets_problems, with_label_checks
from engine.atomic_io import atomic_write_text
from engine.cli_values import OneLineParser, positive_int
from engine.dataset_check import check_samples, sample_files
from engine.launch import load_config
from engine.messages import fail
from engine.preflight import PreflightError, check_writable
from engine.work_dir_guard import WorkDirError, check_output_free

LOADERS = ('train_dataloader', 'val_dataloader')


def parse_args(argv=None):
    parser = OneLineParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--workers', type=positive_int, default=os.cpu_count(),
                        help='decoding processes (default: all cores)')
    parser.add_argument('--out', help='list of bad files (default <work_dir>/bad_files.txt)')
    parser.add_argument('--force', action='store_true', help='replace an existing --out list')
    parser.add_argument('--work-dir')
    parser.add_argument('--no-progress', action='store_true',
                        help='no counts while decoding (the default when stderr is not a terminal)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def datasets_of(cfg):
    """(loader name, built dataset) for the config's train and val sets; mmdet/mmseg sets are built
    lazily (their annotations are read only when their files are listed, after the content checks)."""
    if cfg.get('recipe') is not None:   # finetune configs derive their datasets from the recipe
        from finetune.recipe import apply_recipe
        apply_recipe(cfg)
    init_default_scope(cfg.get('default_scope') or 'mmengine')
    lazy = cfg.get('default_scope') in ('mmdet', 'mmseg')
    for loader in LOADERS:
        if cfg.get(loader):
            dataset_cfg = cfg[loader].dataset
            with warnings.catch_warnings():   # mmseg's notice on the configs' explicit setting
                warnings.filterwarnings('ignore', '`reduce_zero_label` will be deprecated')
                yield loader, DATASETS.build(lazy_copy(dataset_cfg) if lazy else dataset_cfg)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir)
    out = args.out or osp.join(cfg.work_dir, 'bad_files.txt')
    entries = []
    try:
        check_writable(out, 'the bad-file list')
        check_output_free(out, args.force, 'the bad-file list')
        datasets = list(datasets_of(cfg))
        errors, notes = sets_problems(datasets, cfg.get('model'))
        for note in notes:
            print(f'note: {note}')
        if errors:
            for error in errors[:-1]:
                print(f'error: {error}', file=sys.stderr)
            fail(f'{errors[-1]} ({len(errors)} problem(s) with the sets; their files were not '
                 'decoded yet: fix these first)', code=1)
        for loader, dataset in datasets:
            for leaf in leaf_datasets(dataset):
                entries.append((loader, with_label_checks(leaf, sample_files(leaf))))
    except (PreflightError, WorkDirError) as err:
        fail(str(err))
    except (FileNotFoundError, ValueError) as err:   # the datasets' own one-line messages
        fail(str(err))
    progress = not args.no_progress and sys.stderr.isatty()
    bad = []
    for loader, loader_entries in entries:
        if progress:
            print(f'{loader}: {len(loader_entries)} samples', file=sys.stderr, flush=True)
        bad += check_samples(loader_entries, args.workers, progress=progress)
    bad = sorted(set(bad))
    atomic_write_text(''.join(f'{path}\t{reason}\n' for path, reason in bad), out)
    for path, reason in bad:
        print(f'{path}: {reason}')
    if bad:
        fail(f'{len(bad)} bad file(s), listed in {out}: fix or remove them (training skips unreadable '
             'ones, up to SkippedSamplesHook\'s limit)', code=1)
    samples = sum(len(e) for _, e in entries)
    print(f'all {samples} samples check out (decode, label map sizes and values, set content); '
          f'empty list written to {out}')
    return bad


if __name__ == '__main__':
    main()
