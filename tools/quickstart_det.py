"""The embedded default: train the toy Mask R-CNN ConvNeXt V2-atto on synthetic COCO and show it learnt.

    python tools/quickstart_det.py

1. makes the synthetic COCO-format set in data/synthetic_coco unless it is there;
2. evaluates an untrained model (random initialisation) with the COCO evaluator;
3. trains det_configs/mask-rcnn_convnextv2-atto_fpn_synthetic-coco.py with tools/train.py (a few
   minutes on a 2-core CPU) and evaluates the result with tools/test.py;
4. prints box and mask AP of both and exits non-zero unless the trained model is clearly better.

Steps 2-3 run the same tools/train.py and tools/test.py commands as real COCO training does.
"""
import argparse
import json
import os
import os.path as osp
import resource
import sys
import time


from downstream.synthetic_coco import make_synthetic_coco
from engine.launch import REPO_ROOT
from engine.commands import run_tool

TOY_CONFIG = osp.join(REPO_ROOT, 'det_configs', 'mask-rcnn_convnextv2-atto_fpn_synthetic-coco.py')
REPORTED = ('bbox_mAP', 'bbox_mAP_50', 'segm_mAP', 'segm_mAP_50')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/synthetic_coco')
    parser.add_argument('--work-dir', default='work_dirs/default_det')
    parser.add_argument('--config', default=TOY_CONFIG)
    parser.add_argument('--epochs', type=int, help='override the toy config\'s max_epochs')
    parser.add_argument('--seed', type=int, default=0, help='training seed (reproducible runs)')
    parser.add_argument('--train-images', type=int, default=200, help='when the set is generated')
    parser.add_argument('--val-images', type=int, default=50, help='when the set is generated')
    parser.add_argument('--min-gain', type=float, default=0.01,
                        help='trained box and mask AP must exceed the untrained ones by this much')
    parser.add_argument('--min-gain-50', type=float, default=0.05,
                        help='... and their AP at IoU 0.5 by this much')
    return parser.parse_args(argv)


def ensure_dataset(root, train_images, val_images):
    wanted = [osp.join(root, 'annotations', f'instances_{s}.json') for s in ('train2017', 'val2017')]
    if all(osp.isfile(p) for p in wanted):
        print(f'using the synthetic COCO set in {root}')
        return
    print(f'making a synthetic COCO set in {root} ({train_images} train, {val_images} val images)')
    make_synthetic_coco(root, train_images, val_images)


def data_options(root):
    """--cfg-options that point the toy config at another copy of the synthetic set."""
    root = root.rstrip('/') + '/'
    ann = root + 'annotations/instances_val2017.json'
    return [f'{loader}.dataset.data_root={root}'
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')] + \
        [f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']


def schedule_options(config, epochs):
    """--cfg-options for ``epochs`` epochs, with the toy config's lr steps moved along."""
    from mmengine.config import Config
    schedulers = Config.fromfile(config).param_scheduler
    options = [f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}',
               f'default_hooks.checkpoint.interval={epochs}']
    for index, scheduler in enumerate(schedulers):
        if scheduler.type == 'MultiStepLR':
            old_end = scheduler.end
            steps = [max(1, round(m * epochs / old_end)) for m in scheduler.milestones]
            options += [f'param_scheduler.{index}.end={epochs}',
                        f'param_scheduler.{index}.milestones=[{",".join(map(str, steps))}]']
    return options


def write_untrained_checkpoint(config, options, path, seed=0):
    """A checkpoint of the randomly initialised model, evaluated as the baseline."""
    import torch
    import backbones  # noqa: F401
    from mmengine.registry import MODELS, init_default_scope
    from engine.launch import load_config
    cfg = load_config(config, _as_dict(options))
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    classes = tuple(cfg.train_dataloader.dataset.metainfo['classes'])
    os.makedirs(osp.dirname(path), exist_ok=True)
    torch.save(dict(meta=dict(dataset_meta=dict(classes=classes)), state_dict=model.state_dict()),
               path)
    return path


def _as_dict(options):
    """The dict that ``--cfg-options`` would make of ``options``."""
    from mmengine.config import DictAction
    namespace = argparse.Namespace()
    DictAction(option_strings=[], dest='cfg_options')(None, namespace, options)
    return namespace.cfg_options


def evaluate(config, checkpoint, options, work_dir, name):
    out = osp.join(work_dir, f'metrics_{name}.json')
    run_tool('test.py', config, checkpoint, '--work-dir', osp.join(work_dir, f'test_{name}'),
             '--metrics-out', out, '--cfg-options', *options)
    with open(out) as f:
        return {k.split('/')[-1]: v for k, v in json.load(f).items()}


def _children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def report(untrained, trained, train_seconds, train_cpu, min_gain, min_gain_50):
    print(f'\nMask R-CNN ConvNeXt V2-atto on synthetic COCO (val): training took '
          f'{train_seconds / 60:.1f} min ({train_cpu / 60:.1f} CPU-min, {os.cpu_count()} cores)')
    print(f'{"metric":<14}{"untrained":>10}{"trained":>10}')
    for key in REPORTED:
        print(f'{key:<14}{untrained.get(key, float("nan")):>10.3f}{trained.get(key, float("nan")):>10.3f}')
    margins = dict(bbox_mAP=min_gain, segm_mAP=min_gain, bbox_mAP_50=min_gain_50,
                   segm_mAP_50=min_gain_50)
    ok = all(trained[k] >= untrained[k] + margin for k, margin in margins.items())
    verdict = 'clearly above' if ok else 'NOT clearly above'
    print(f'trained box and mask AP are {verdict} the untrained model\'s (required margins: '
          f'AP +{min_gain}, AP50 +{min_gain_50})')
    return ok


def main(argv=None):
    args = parse_args(argv)
    ensure_dataset(args.data_root, args.train_images, args.val_images)
    options = data_options(args.data_root)
    if args.epochs:
        options += schedule_options(args.config, args.epochs)
    train_options = options + [f'randomness.seed={args.seed}', 'val_cfg=None',
                               'val_dataloader=None', 'val_evaluator=None']

    untrained_ckpt = write_untrained_checkpoint(
        args.config, options, osp.join(args.work_dir, 'untrained.pth'))
    untrained = evaluate(args.config, untrained_ckpt, options, args.work_dir, 'untrained')

    start, cpu_start = time.time(), _children_cpu_seconds()
    run_tool('train.py', args.config, '--work-dir', args.work_dir, '--cfg-options', *train_options)
    train_seconds, train_cpu = time.time() - start, _children_cpu_seconds() - cpu_start
    with open(osp.join(args.work_dir, 'last_checkpoint')) as f:
        trained_ckpt = f.read().strip()
    trained = evaluate(args.config, trained_ckpt, options, args.work_dir, 'trained')

    ok = report(untrained, trained, train_seconds, train_cpu, args.min_gain, args.min_gain_50)
    with open(osp.join(args.work_dir, 'default_result.json'), 'w') as f:
        json.dump(dict(untrained=untrained, trained=trained, train_seconds=train_seconds,
                       train_cpu_seconds=train_cpu, ok=ok), f, indent=1)
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
