"""Check a run's inputs before the Runner writes anything into the work dir.

mmengine creates the work dir, a log and a config dump first and only then reads annotations,
builds dataloaders and loads the initial weights, so bad input used to fail minutes later, deep in
a traceback, next to half-written run files. These checks read only the config and the files it
names and raise ``PreflightError`` (one line: what, which file, what to do):

* every ``init_cfg=dict(type='Pretrained', checkpoint=PATH)`` file exists, and for a ConvNeXt V2
  backbone its weights really fit that backbone (size, keys, shapes; read on the meta device); an
  http(s) URL is checked the same way when it is in the torch hub cache, and otherwise logged as
  one that will be downloaded when the model is initialised (no network access here);
* the checkpoint given to test.py fits the whole model;
* each dataset's annotation file and data folders exist; a COCO-format annotation file parses,
  has images and annotations, names every class of the config, and every image it lists exists;
  its content holds together (downstream/dataset_content.py: ids, boxes, categories outside the
  config's classes; boxes the loader will drop are counted in a logged line);
* every head's ``num_classes`` (and CheckSegMap's) is the class count of each dataset.
"""
import json
import os.path as osp

import torch

from mmengine.logging import print_log
from mmengine.registry import init_default_scope

from backbones.checkpoints import CheckpointError, read_checkpoint, strip_module_prefix
from backbones.checkpoints.load import check_fits
from backbones.checkpoints.download import cache_path, cached_file, is_url
from backbones.checkpoints.hub import cached_folder as hub_cached_folder
from backbones.checkpoints.hub import is_hub_id
from engine.launch import load_config
from downstream.dataset_content import class_count_problems, coco_problems, label_size_problem
from engine.messages import short_list
from engine.preflight import PreflightError, build_on_meta, check_model_builds, compare_state_dicts

INIT_HOWTO = ('produce it with the ImageNet-1K finetune and its backbone export, or use the released '
              'IN-1K weights (python tools/download_weights.py SIZE in1k prints their init_cfg URL), '
              'then put it there or pass --cfg-options model.backbone.init_cfg.checkpoint=PATH')
DATA_HOWTO = ('set data_root / ann_file in the config, or make a synthetic set with '
              'python tools/make_synthetic.py coco --out data/synthetic_coco (detection) or '
              'python tools/make_synthetic.py ade20k (segmentation)')


def drop_initial_weights(model_cfg):
    """Resuming restores every weight, so the backbones' initial checkpoints are not read at all."""
    for _, module_cfg, _ in list(pretrained_init_cfgs(model_cfg)):
        module_cfg.init_cfg = None


def demo_config(config_path, checkpoint, image, default_scope, check_config=None):
    """The config of a one-image demo, checked before anything is built: the image exists,
    ``check_config(cfg)`` passes (the kind of config) and the checkpoint fits its whole model."""
    if not osp.isfile(image):
        raise PreflightError(f'image {image} does not exist')
    cfg = load_config(config_path)
    if check_config is not None:
        check_config(cfg)
    init_default_scope(cfg.get('default_scope', default_scope))
    check_model_checkpoint(cfg.model, checkpoint)
    return cfg


# -- initial weights ------------------------------------------------------------------------------
def pretrained_init_cfgs(node, where='model'):
    """Yield (config key, owning module cfg, init_cfg) for every Pretrained init with a local file
    or an http(s) URL (other schemes, e.g. s3://, are left to their loaders)."""
    if isinstance(node, dict):
        inits = node.get('init_cfg')
        for init in inits if isinstance(inits, list) else [inits]:
            if isinstance(init, dict) and init.get('type') == 'Pretrained':
                checkpoint = str(init.get('checkpoint', ''))
                if checkpoint and ('://' not in checkpoint or is_url(checkpoint)):
                    yield f'{where}.init_cfg', node, init
        for key, value in node.items():
            if key != 'init_cfg':
                yield from pretrained_init_cfgs(value, f'{where}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from pretrained_init_cfgs(value, f'{where}[{i}]')


def check_init_checkpoints(model_cfg):
    """Every Pretrained checkpoint exists (a URL: is cached or will be downloaded); ConvNeXt V2
    ones fit their backbone exactly."""
    for where, module_cfg, init in pretrained_init_cfgs(model_cfg):
        path = init['checkpoint']
        if is_url(path):
            if not cached_file(path):
                print_log(f'{where}: {path} is not in the torch hub cache yet; it will be downloaded '
                          f'to {cache_path(path)} when the model is initialised', logger='current')
                continue
            path = cached_file(path)
        elif is_hub_id(path):
            try:
                folder = hub_cached_folder(path)
            except CheckpointError as err:
                raise PreflightError(f'{where}: {err}') from None
            if not folder:
                print_log(f'{where}: {path} is not in the Hugging Face cache yet; it will be '
                          'downloaded when the model is initialised', logger='current')
                continue
            path = folder
        elif not (osp.isfile(path) or osp.isdir(path)):
            raise PreflightError(f'{where}: initial checkpoint {path} does not exist; {INIT_HOWTO}')
        if _type_name(module_cfg.get('type')) == 'ConvNeXtV2':
            check_backbone_checkpoint(module_cfg, path, init.get('prefix'))


def check_backbone_checkpoint(backbone_cfg, path, prefix=None):
    from backbones import ConvNeXtV2
    kwargs = {k: v for k, v in backbone_cfg.items() if k not in ('type', 'init_cfg')}
    with torch.device('meta'):
        backbone = ConvNeXtV2(**kwargs)
    try:
        check_fits(backbone, path, prefix=prefix)
    except CheckpointError as err:
        raise PreflightError(str(err)) from None


def check_model_checkpoint(model_cfg, path):
    """The checkpoint given to test.py holds weights for exactly the model of the config."""
    if not osp.isfile(path):
        raise PreflightError(f'checkpoint {path} does not exist; pass the .pth that '
                             'tools/train.py wrote into its work dir')
    try:
        obj = read_checkpoint(path, mmap=True)
    except CheckpointError as err:
        raise PreflightError(str(err)) from None
    state_dict = obj.get('state_dict', obj) if isinstance(obj, dict) else None
    if not isinstance(state_dict, dict) or not state_dict:
        raise PreflightError(f'{path} holds no state_dict; pass a checkpoint written by tools/train.py')
    problems = compare_state_dicts(check_model_builds(model_cfg).state_dict(),
                                   strip_module_prefix(state_dict))
    if problems:
        raise PreflightError(f'checkpoint {path} does not fit the model of this config: '
                             f'{problems}; use the config it was trained with')


# -- data -----------------------------------------------------------------------------------------
def leaf_datasets(dataset_cfg):
    """The real datasets inside wrappers (RepeatDataset, ConcatDataset, ...)."""
    if isinstance(dataset_cfg, (list, tuple)):
        for item in dataset_cfg:
            yield from leaf_datasets(item)
    elif isinstance(dataset_cfg, dict):
        if 'dataset' in dataset_cfg:
            yield from leaf_datasets(dataset_cfg['dataset'])
        elif 'datasets' in dataset_cfg:
            yield from leaf_datasets(dataset_cfg['datasets'])
        else:
            yield dataset_cfg


def check_dataloader(dataloader_cfg, name):
    if not dataloader_cfg:
        return
    for dataset in leaf_datasets(dataloader_cfg.get('dataset')):
        check_dataset(dataset, name)


def check_dataset(dataset_cfg, name):
    if dataset_cfg.get('backend_args'):
        return  # remote storage: nothing to check locally
    root = dataset_cfg.get('data_root') or ''
    ann_file = dataset_cfg.get('ann_file') or ''
    ann_file = _join(root, ann_file) if ann_file else ''
    prefixes = {k: _join(root, v) for k, v in (dataset_cfg.get('data_prefix') or {}).items()
                if isinstance(v, str)}
    if ann_file and not osp.isfile(ann_file):
        raise PreflightError(f'{name}: annotation file {ann_file} does not exist; {DATA_HOWTO}')
    for key, folder in prefixes.items():
        if folder and not osp.isdir(folder):
            raise PreflightError(f'{name}: data_prefix {key} folder {folder} does not exist; '
                                 f'{DATA_HOWTO}')
    if ann_file.endswith('.json') and _is_coco_dataset(dataset_cfg):
        check_coco_file(ann_file, prefixes.get('img', root), _classes_of(dataset_cfg), name)


def check_coco_file(ann_file, image_dir, classes, name):
    """A COCO instances file that a detector can train and be evaluated on."""
    try:
        with open(ann_file) as f:
            coco = json.load(f)
    except (OSError, ValueError) as err:
        raise PreflightError(f'{name}: cannot read {ann_file} as JSON ({err}); regenerate or '
                             're-download it') from None
    absent = [k for k in ('images', 'annotations', 'categories') if not isinstance(coco.get(k), list)]
    if absent:
        raise PreflightError(f'{name}: {ann_file} is not a COCO instances file: no list '
                             f'{", ".join(absent)}')
    if not coco['images']:
        raise PreflightError(f'{name}: {ann_file} lists no images')
    if not coco['annotations']:
        raise PreflightError(f'{name}: {ann_file} has no annotations (empty annotation set); a '
                             'detector can neither learn from nor be evaluated on it')
    names = {c.get('name') for c in coco['categories']}
    unknown = [c for c in classes or () if c not in names]
    if unknown:
        raise PreflightError(f'{name}: classes {short_list(unknown)} of the config are not categories '
                             f'of {ann_file} (it has {short_list(sorted(map(str, names)))}); set '
                             'metainfo=dict(classes=...) to the categories of the file')
    errors, notes = coco_problems(coco, classes or None, f'{name}: {ann_file}')
    if errors:
        more = f' (+{len(errors) - 1} more: python tools/check_dataset.py CONFIG lists all)'
        raise PreflightError(errors[0] + (more if len(errors) > 1 else ''))
    for note in notes:
        print_log(note, logger='current')
    missing = [im.get('file_name') for im in coco['images']
               if not osp.isfile(osp.join(image_dir, str(im.get('file_name'))))]
    if missing:
        raise PreflightError(f'{name}: {len(missing)} of the {len(coco["images"])} images listed in '
                             f'{ann_file} are absent under {image_dir}, e.g. {missing[0]}; restore '
                             'them or regenerate the annotation file')


def check_class_counts(model_cfg, dataloader_cfg, name):
    """Every head (and CheckSegMap) predicts as many classes as each dataset of the loader has."""
    for dataset in leaf_datasets((dataloader_cfg or {}).get('dataset')):
        classes = _classes_of(dataset)
        problems = classes and class_count_problems(model_cfg, dataset.get('pipeline'), classes, name)
        if problems:
            raise PreflightError(problems[0])


def check_label_sizes(dataloader_cfg, name):
    """The label maps of an evaluated segmentation set have their images' sizes (file headers)."""
    for dataset in leaf_datasets((dataloader_cfg or {}).get('dataset')):
        problem = label_size_problem(dataset, name)
        if problem:
            raise PreflightError(problem)


def check_evaluator(evaluator_cfg, name):
    for evaluator in evaluator_cfg if isinstance(evaluator_cfg, list) else [evaluator_cfg]:
        ann_file = (evaluator or {}).get('ann_file')
        if ann_file and not evaluator.get('backend_args') and not osp.isfile(ann_file):
            raise PreflightError(f'{name}.ann_file {ann_file} does not exist; {DATA_HOWTO}')


# -- entry points ---------------------------------------------------------------------------------
def check_training(cfg, resuming=False):
    """Everything ``tools/train.py`` needs; initial weights are skipped when resuming."""
    if not resuming:
        check_init_checkpoints(cfg.model)
    check_class_counts(cfg.model, cfg.get('train_dataloader'), 'train_dataloader')
    check_dataloader(cfg.get('train_dataloader'), 'train_dataloader')
    if cfg.get('val_cfg') and cfg.get('val_dataloader'):
        check_class_counts(cfg.model, cfg.val_dataloader, 'val_dataloader')
        check_dataloader(cfg.val_dataloader, 'val_dataloader')
        check_label_sizes(cfg.val_dataloader, 'val_dataloader')
        check_evaluator(cfg.get('val_evaluator'), 'val_evaluator')


def check_testing(cfg, checkpoint):
    check_model_checkpoint(cfg.model, checkpoint)
    check_class_counts(cfg.model, cfg.get('test_dataloader'), 'test_dataloader')
    check_dataloader(cfg.get('test_dataloader'), 'test_dataloader')
    check_label_sizes(cfg.get('test_dataloader'), 'test_dataloader')
    check_evaluator(cfg.get('test_evaluator'), 'test_evaluator')


# -- helpers --------------------------------------------------------------------------------------
def _join(root, path):
    return path if not root or osp.isabs(path) else osp.join(root, path)


def _type_name(type_):
    name = type_ if isinstance(type_, str) else getattr(type_, '__name__', '')
    return name.split('.')[-1]


def _dataset_class(dataset_cfg):
    from mmengine.registry import DATASETS
    type_ = dataset_cfg.get('type')
    if isinstance(type_, type):
        return type_
    with DATASETS.switch_scope_and_registry(None) as registry:  # the default scope's registry
        return registry.get(type_)


def _is_coco_dataset(dataset_cfg):
    try:
        from mmdet.datasets import CocoDataset
    except ImportError:
        return False
    cls = _dataset_class(dataset_cfg)
    return isinstance(cls, type) and issubclass(cls, CocoDataset)


def _classes_of(dataset_cfg):
    metainfo = dataset_cfg.get('metainfo') or {}
    if metainfo.get('classes'):
        return list(metainfo['classes'])
    cls = _dataset_class(dataset_cfg)
    return list(getattr(cls, 'METAINFO', {}).get('classes', ()))
