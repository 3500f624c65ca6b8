"""The README's main job, as functions: the synthetic COCO set, the toy Mask R-CNN config and its
options, an untrained baseline checkpoint, COCO evaluation through tools/test.py, and the verdict
(``tools/quickstart_det.py`` is the command).
"""
import argparse
import json
import os
import os.path as osp
import resource


from reports.commands import run_tool
from engine.launch import REPO_ROOT

from downstream.synthetic_coco import make_synthetic_coco

TOY_CONFIG = osp.join(REPO_ROOT, 'det_configs', 'mask-rcnn_convnextv2-atto_fpn_synthetic-coco.py')
SET_SIZES = (200, 50)   # train, val images of a set the main job makes
REPORTED = ('bbox_mAP', 'bbox_mAP_50', 'segm_mAP', 'segm_mAP_50')


def ensure_dataset(root, train_images=None, val_images=None):
    """Make the synthetic set in ``root`` unless it is there (``SET_SIZES`` images by default).
    A set already there must hold the image counts asked for (None: any), else ``ValueError``."""
    wanted = [osp.join(root, 'annotations', f'instances_{s}.json') for s in ('train2017', 'val2017')]
    if all(osp.isfile(p) for p in wanted):
        asked = (train_images, val_images)
        held = [_image_count(p) if n is not None else None for p, n in zip(wanted, asked)]
        wrong = [f'{split} {n} (asked for {a})' for split, n, a in
                 zip(('train', 'val'), held, asked) if a is not None and n != a]
        if wrong:
            raise ValueError(f'the set in {root} holds {", ".join(wrong)} images; --train-images / '
                             '--val-images only size a set that is made: pass another --data-root '
                             'to make one of that size, or leave them out')
        print(f'using the synthetic COCO set in {root}')
        return
    train_images = SET_SIZES[0] if train_images is None else train_images
    val_images = SET_SIZES[1] if val_images is None else val_images
    print(f'making a synthetic COCO set in {root} ({train_images} train, {val_images} val images)')
    make_synthetic_coco(root, train_images, val_images, force=True)   # an incomplete set is replaced


def _image_count(ann_file):
    with open(ann_file) as f:
        return len(json.load(f).get('images', ()))


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
             '--metrics-out', out, '--force', '--cfg-options', *options)
    with open(out) as f:
        return {k.split('/')[-1]: v for k, v in json.load(f).items()}


def children_cpu_seconds():
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
