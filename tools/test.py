"""Evaluate a checkpoint with an mmdet or mmseg config (the config's default_scope decides).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...]
                         [--metrics-out metrics.json] [--tta] [--show-dir DIR] [--launcher pytorch]

``--tta`` runs the config's test-time augmentation (``tta_model`` + ``tta_pipeline``, e.g. the
multi-scale + flip test of the segmentation configs); the detection configs test single-scale.
``--show-dir DIR`` draws every prediction with mmdet's / mmseg's own visualisation hook.

The checkpoint must fit the config's model exactly (checked before anything runs: a checkpoint of
another size or model fails with one line instead of being loaded partially).
"""
import argparse
import json
import os


import backbones  # noqa: F401  (registers ConvNeXtV2 before any config is built)
from mmengine.dist import get_rank
from mmengine.registry import init_default_scope

from downstream import preflight
from downstream.show_dir import show_predictions
from engine.launch import add_cfg_options, build_runner, fit_to_machine, load_config, train_or_stop
from engine.messages import fail
from engine.preflight import (PreflightError, check_batch_sizes, check_kind, check_output,
                              check_writable)
from engine.work_dir_guard import WorkDirError, check_output_free


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a detector or segmentor')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint written by tools/train.py')
    parser.add_argument('--work-dir', help='where the test log goes')
    parser.add_argument('--metrics-out', help='also write the metrics as JSON to this file')
    parser.add_argument('--force', action='store_true', help='replace an existing --metrics-out file or a non-empty --show-dir')
    parser.add_argument('--tta', action='store_true',
                        help="test with the config's tta_model and tta_pipeline")
    parser.add_argument('--show-dir', help='draw the predictions on the test images into DIR '
                        "(mmdet's / mmseg's visualisation hook)")
    add_cfg_options(parser, 'test_dataloader.batch_size=2')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.metrics_out:   # before the (long) test, not after it
        try:
            check_output_free(args.metrics_out, args.force, '--metrics-out')
        except WorkDirError as err:
            fail(str(err))
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher,
                      args.allow_new_keys)
    try:
        check_kind(cfg, ('det', 'seg'), 'tools/test.py', args.config)
        check_batch_sizes(cfg)
        for path, what, folder in ((cfg.work_dir, 'work dir', True),
                                   (args.metrics_out, '--metrics-out', False)):
            if path:
                check_writable(path, what, folder)
        if args.show_dir:   # earlier drawings are replaced only with --force
            check_output(args.show_dir, args.force, '--show-dir', folder=True)
        init_default_scope(cfg.get('default_scope', 'mmdet'))
        fit_to_machine(cfg)
        preflight.check_testing(cfg, args.checkpoint)
    except PreflightError as err:
        fail(str(err))
    if args.tta:
        use_tta(cfg, args.config)
    if args.show_dir:
        try:
            print(f'test.py: drawing the predictions into {show_predictions(cfg, args.show_dir)}')
        except ValueError as err:
            fail(str(err))
    cfg.load_from = args.checkpoint
    cfg.resume = False

    runner = build_runner(cfg)
    writes_metrics = args.metrics_out and get_rank() == 0   # before train_or_stop leaves the group
    metrics = train_or_stop(runner, runner.test)   # an error of the test: one line, traceback in the log
    if writes_metrics:
        with open(args.metrics_out, 'w') as f:
            json.dump({k: _plain(v) for k, v in metrics.items()}, f, indent=1)
    return metrics


def use_tta(cfg, config_path):
    """Wrap the model in the config's TTA model and test with its TTA pipeline."""
    absent = [key for key in ('tta_model', 'tta_pipeline') if not cfg.get(key)]
    if absent:
        fail(f'--tta: {config_path} defines no {" and no ".join(absent)}; it has no test-time '
             'augmentation to run')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.tta_model.module = cfg.model
    cfg.model = cfg.tta_model


def _plain(value):
    return value.item() if hasattr(value, 'item') else value


if __name__ == '__main__':
    main()
