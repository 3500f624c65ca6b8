"""The launchers' common preflight: everything about a run that can be checked before the Runner,
the work dir or any output exists, each problem one line (``PreflightError``) naming the fix.

* ``read_config``: the config file parses (a syntax error names its file and line), and every
  ``--cfg-options`` key exists in the resolved config and keeps the type of its value there (a
  new key only with ``--allow-new-keys``);
* ``check_kind``: the config is for this command (an FCMAE config to ``tools/train.py``, a det
  config to ``tools/pretrain_fcmae.py`` are refused, naming the right command);
* ``check_batch_sizes``: every dataloader's batch size is a positive integer;
* ``build_on_meta`` / ``check_model_builds``: the model builds on the meta device (no memory, no
  weights read), so a wrong ``arch`` or ``out_indices`` is found before the Runner;
* ``compare_state_dicts``: a checkpoint's weights fit a model exactly (keys and shapes);
* ``check_image_folders``: the image folders of folder datasets exist and hold an image;
* ``check_writable``: an output path can be created (its nearest existing folder is writable).

The det/seg content checks (annotation files, initial backbone weights) are in
``downstream/preflight.py``; the tools call both.
"""
import ast
import difflib
import os
import os.path as osp
import re

import torch

from .messages import short_list, typed_line
from .work_dir_guard import WorkDirError, check_output_free

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')

# the command for each kind of config, and how a config's kind is told
COMMANDS = {'det': 'python tools/train.py', 'seg': 'python tools/train.py',
            'fcmae': 'python tools/pretrain_fcmae.py', 'classifier': 'python tools/finetune_imagenet.py'}
DEMO_COMMANDS = {'det': 'python tools/demo_det.py', 'seg': 'python tools/demo_seg.py'}
_MODEL_KINDS = {'FCMAE': 'fcmae', 'ConvNeXtV2Classifier': 'classifier'}
_SCOPE_KINDS = {'mmdet': 'det', 'mmseg': 'seg'}


class PreflightError(RuntimeError):
    """Input that would make a run fail; the message is one line naming the file and the fix."""


# -- the config ---------------------------------------------------------------------------------
def read_config(path, cfg_options=None, allow_new_keys=False):
    """The config of ``path`` with ``cfg_options`` merged, after checking both."""
    from mmengine.config import Config
    if not osp.isfile(path):
        raise PreflightError(f'config {path} does not exist; pass a config file (det_configs/, '
                             'seg_configs/, pretrain/configs/, finetune/configs/)')
    try:
        cfg = Config.fromfile(path)
    except SyntaxError as err:
        raise PreflightError(_syntax_error_line(path, err)) from None
    except Exception as err:   # a missing _base_, a name error inside the config, ...
        raise PreflightError(f'config {path} cannot be read: {typed_line(err)}; fix the config '
                             'or its _base_ files') from None
    if cfg_options:
        check_cfg_options(cfg, cfg_options, allow_new_keys, path)
        cfg.merge_from_dict(cfg_options)
    return cfg


def _syntax_error_line(path, err):
    """'config FILE line N: MESSAGE' for the file that really has the error (a _base_ too)."""
    found = _find_syntax_error(path)
    culprit, err = found if found else (path, err)
    line = f' line {err.lineno}' if err.lineno else ''
    return f'config {culprit}{line}: {err.msg}; fix the Python syntax there'


def _find_syntax_error(path, seen=()):
    """(file, SyntaxError) of the first file among ``path`` and its ``_base_`` files that does not
    parse (mmengine's own error names neither), or None."""
    try:
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), path)
    except SyntaxError as err:
        return path, err
    except OSError:
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', '') == '_base_' for t in node.targets):
            try:
                bases = ast.literal_eval(node.value)
            except ValueError:
                return None
            for base in [bases] if isinstance(bases, str) else bases:
                base = osp.normpath(osp.join(osp.dirname(path), base))
                if base not in seen:
                    found = _find_syntax_error(base, (*seen, path))
                    if found:
                        return found
    return None


def check_cfg_options(cfg, options, allow_new_keys=False, path='the config'):
    """Each ``key=value`` names an existing entry of ``cfg`` and keeps its type. A dict whose
    ``type`` the options change may take new keys (another type has other arguments)."""
    retyped = {k[:-len('.type')] for k in options if k.endswith('.type')}
    retyped.add('')   # the top level: the Runner's own arguments (experiment_name, ...) may be new
    for key, value in options.items():
        node, parts = cfg._cfg_dict, key.split('.')
        for depth, part in enumerate(parts):
            here = '.'.join(parts[:depth + 1])
            if isinstance(node, (list, tuple)) and part.isdigit():
                if int(part) >= len(node):
                    raise PreflightError(f'--cfg-options {key}: {here} is out of range ({len(node)} '
                                         f'items in {path})')
                node = node[int(part)]
                continue
            if not isinstance(node, dict):
                raise PreflightError(f'--cfg-options {key}: {".".join(parts[:depth]) or key} is a '
                                     f'{type(node).__name__} in {path}, not a dict')
            if part not in node:
                parent = '.'.join(parts[:depth])
                if allow_new_keys or '_delete_' in parts or (parent in retyped and (
                        parent or part in _runner_arguments())) or \
                        (parent == 'randomness' and part in RANDOMNESS_KEYS) or \
                        _takes_argument(node.get('type') or _RUNNER_DEFAULT_TYPES.get(parent),
                                        part, cfg.get('default_scope')):
                    break
                names = [str(k) for k in node] + (sorted(_runner_arguments()) if not depth else [])
                close = difflib.get_close_matches(part, names, n=1)
                hint = f' (did you mean {".".join(parts[:depth] + close)}?)' if close else ''
                raise PreflightError(f'--cfg-options {key}: {path} has no {here}{hint}; correct the '
                                     'name, or pass --allow-new-keys to add a new entry')
            node = node[part]
        else:
            problem = _type_change(node, value)
            if problem:
                raise PreflightError(f'--cfg-options {key}={value!r}: {problem}; give a value of '
                                     'that type')


def _runner_arguments():
    """The top-level keys mmengine's Runner reads, a config states them or not."""
    import inspect

    from mmengine.runner import Runner
    return set(inspect.signature(Runner.__init__).parameters) - {'self', 'cfg'}


RANDOMNESS_KEYS = ('seed', 'deterministic', 'diff_rank_seed')   # Runner.set_randomness
# the Runner's dicts that need no ``type``: the class it builds from them
_RUNNER_DEFAULT_TYPES = {'log_processor': 'LogProcessor', 'train_cfg': 'EpochBasedTrainLoop',
                         'val_cfg': 'ValLoop', 'test_cfg': 'TestLoop', 'visualizer': 'Visualizer',
                         'message_hub': 'MessageHub'}


def _takes_argument(type_name, name, scope):
    """True when the registered class ``type_name`` (looked up in every mmengine registry, in the
    config's scope) names ``name`` among its constructors' parameters: an argument the config
    leaves at its default (``default_hooks.checkpoint.by_epoch``), not a typo."""
    import inspect

    import mmengine.registry as registries
    if not isinstance(type_name, str):
        return False
    for registry in vars(registries).values():
        if not isinstance(registry, registries.Registry):
            continue
        scoped = registry if not scope or scope == registry.scope else registry.children.get(scope)
        try:
            found = scoped.get(type_name) if scoped is not None else None
        except Exception:   # noqa: BLE001  (a registry whose modules do not import here)
            continue
        for klass in getattr(found, '__mro__', ()):
            init = klass.__dict__.get('__init__')
            try:
                if init is not None and name in inspect.signature(init).parameters:
                    return True
            except (TypeError, ValueError):
                continue
    return False


def _type_change(old, new):
    """Why ``new`` may not replace ``old`` (None when it may)."""
    if old is None or new is None:
        return None
    # numbers are numbers: a config may write 0 where a rate goes (drop_path_rate=0), 1 for a weight
    kinds = [(bool, (bool,)), ((int, float), (int, float)), (str, (str,)),
             ((list, tuple), (list, tuple)), (dict, (dict,))]
    for slot, accepted in kinds:
        if isinstance(old, slot):
            ok = isinstance(new, accepted) and not (isinstance(new, bool) and slot is not bool)
            if ok:
                return None
            return f'the config holds {type(old).__name__} {old!r} there, not {type(new).__name__}'
    return None


# -- the kind of config -------------------------------------------------------------------------
def config_kind(cfg):
    """'det', 'seg', 'fcmae', 'classifier' or None (unknown)."""
    model_type = str((cfg.get('model') or {}).get('type', '')).split('.')[-1]
    return _MODEL_KINDS.get(model_type) or _SCOPE_KINDS.get(cfg.get('default_scope'))


def check_kind(cfg, kinds, command, path='the config', commands=None):
    """Refuse a config that is not one of ``kinds`` for ``command``, naming the command for its
    kind (``commands`` overrides ``COMMANDS``, e.g. the demo of each kind)."""
    kind = config_kind(cfg)
    if kind in kinds:
        return kind
    model_type = (cfg.get('model') or {}).get('type', 'none')
    commands = {**COMMANDS, **(commands or {})}
    right = f'; run it with {commands[kind]}' if kind in commands else ''
    raise PreflightError(f'{path} is a {kind or "unknown"} config (model {model_type}), but {command} '
                         f'runs {" / ".join(kinds)} configs{right}')


def check_launch(cfg, path, kinds, command, loaders=None):
    """What every training launcher checks: the kind of config, batch sizes, the model (built on
    the meta device, in the config's default scope), the image folders of ``loaders`` (default:
    train and val), and a writable work dir."""
    check_kind(cfg, kinds, command, path)
    check_batch_sizes(cfg)
    if cfg.get('default_scope'):
        from mmengine.registry import init_default_scope
        init_default_scope(cfg.default_scope)
    check_model_builds(cfg.model, path)
    check_image_folders(cfg, loaders or ('train_dataloader', 'val_dataloader'))
    check_writable(cfg.work_dir, 'work dir', folder=True)


def resume_checkpoint(cfg, resume):
    """The checkpoint ``--resume [CKPT]`` will load: CKPT, the work dir's last one, or None."""
    if resume is None:
        return None
    if resume == 'auto':
        from mmengine.runner import find_latest_checkpoint
        return find_latest_checkpoint(cfg.work_dir) if osp.isdir(cfg.work_dir) else None
    if not osp.isfile(resume):
        raise PreflightError(f'--resume {resume}: no such checkpoint; pass a .pth from the run\'s '
                             'work dir, or --resume without a value for its last one')
    return resume


# -- numbers and the model ----------------------------------------------------------------------
def check_batch_sizes(cfg):
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if not loader or 'batch_size' not in loader:
            continue
        size = loader['batch_size']
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise PreflightError(f'{name}.batch_size is {size!r}; it must be a positive integer')


def without_init(node):
    """A copy of a model config with every init_cfg removed (no files read, no init run)."""
    if isinstance(node, dict):
        return type(node)({k: without_init(v) for k, v in node.items() if k != 'init_cfg'})
    if isinstance(node, (list, tuple)):
        return type(node)(without_init(v) for v in node)
    return node


def build_on_meta(model_cfg, registry=None):
    """The model of a config with no memory and no weight initialisation (shapes only)."""
    if registry is None:
        from mmengine.registry import MODELS as registry
    if isinstance(model_cfg.get('type'), str):
        # import the scope's model modules (mmdet.models, ...) first: some of what they import
        # (transformers via mmpretrain) fails to import under the meta device
        with registry.switch_scope_and_registry(None) as scoped:
            scoped.get(model_cfg['type'])
    with torch.device('meta'):
        return registry.build(without_init(model_cfg))


def check_model_builds(model_cfg, path='the config'):
    """``build_on_meta``, with whatever the model's constructor objects to as one line."""
    try:
        return build_on_meta(model_cfg)
    except Exception as err:
        raise PreflightError(f'the model of {path} does not build: {_root_cause(err)}; fix the '
                             'model settings (or the --cfg-options that changed them)') from None


def _root_cause(err):
    """mmengine re-raises a constructor's error wrapped in its own (same type, 'class `X` in ...');
    the innermost one says what is wrong."""
    while True:
        inner = err.__cause__ or err.__context__
        if inner is None or (err.__cause__ is None and type(inner) is not type(err)):
            return typed_line(err)
        err = inner


def compare_state_dicts(own, theirs):
    """'shape mismatches [...]; missing keys [...]; unexpected keys [...]' or '' when they fit."""
    missing = [k for k in own if k not in theirs]
    unexpected = [k for k in theirs if k not in own]
    mismatched = [f'{k} {tuple(theirs[k].shape)} vs model {tuple(v.shape)}'
                  for k, v in own.items()
                  if k in theirs and hasattr(theirs[k], 'shape') and theirs[k].shape != v.shape]
    return '; '.join(f'{label} {short_list(keys)}' for label, keys in
                     (('shape mismatches', mismatched), ('missing keys', missing),
                      ('unexpected keys', unexpected)) if keys)


# -- files and folders --------------------------------------------------------------------------
def check_image_folders(cfg, loaders=('train_dataloader', 'val_dataloader')):
    """Folder datasets (``data_root`` [+ ``split``], no annotation file) exist and hold an image."""
    for name in loaders:
        loader = cfg.get(name)
        if not loader or (name != 'train_dataloader' and not cfg.get('val_cfg')):
            continue
        dataset = loader.get('dataset') or {}
        root = dataset.get('data_root')
        if not isinstance(root, str) or dataset.get('ann_file') or dataset.get('data_prefix'):
            continue
        folder = osp.join(root, dataset['split']) if dataset.get('split') else root
        if not osp.isdir(folder):
            raise PreflightError(f'{name}: image folder {folder} does not exist; set data_root '
                                 '(--data-root or --cfg-options) to a folder of images, or make a '
                                 'synthetic one with python tools/make_synthetic.py')
        if not _holds_an_image(folder):
            raise PreflightError(f'{name}: image folder {folder} holds no images '
                                 f'({", ".join(IMAGE_EXTENSIONS)}); put the images there, e.g. '
                                 f'{folder}/<class>/*.jpg')


def _holds_an_image(folder):
    for _, _, files in os.walk(folder, followlinks=True):
        if any(f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith('.') for f in files):
            return True
    return False


def check_device(device):
    """``--device`` is one this machine has (the rule of ``engine.cli_values.device``: cuda[:N]
    needs a visible GPU N, a name torch does not know is refused)."""
    from argparse import ArgumentTypeError
    from .cli_values import device as known_device
    try:
        known_device(str(device))
    except ArgumentTypeError as err:
        raise PreflightError(f'--device {err}') from None


def check_output(path, force, what='--out', folder=False):
    """An output the command will write: creatable, and not an existing file (or non-empty folder)
    unless ``force`` (``--force``)."""
    check_writable(path, what, folder)
    try:
        check_output_free(path, force, what)
    except WorkDirError as err:
        raise PreflightError(str(err)) from None


def check_writable(path, what='output', folder=False):
    """``path`` (a file, or a folder with ``folder=True``) can be created or written: it is of the
    right sort if it exists, and its nearest existing parent is a writable folder."""
    path = osp.abspath(path)
    if osp.exists(path):
        if folder != osp.isdir(path):
            sort = 'folder' if folder else 'file'
            raise PreflightError(f'{what} {path} exists and is not a {sort}; choose another path')
        if os.access(path, os.W_OK):
            return
        raise PreflightError(f'{what} {path} is not writable; choose another path or fix its '
                             'permissions')
    parent = osp.dirname(path)
    while not osp.exists(parent):
        parent = osp.dirname(parent)
    if not osp.isdir(parent):
        raise PreflightError(f'{what} {path} cannot be created: {parent} is a file, not a folder; '
                             'choose another path')
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PreflightError(f'{what} {path} cannot be created: {parent} is not writable; choose '
                             'another path')
