"""One resolved config -> its recipe rows, by the package that owns its kind; a page marker's
configs -> the merged "ours" column (``page.fill_page`` takes ``column_for``)."""
from backbones.variants import ARCHS
from engine.launch import REPO_ROOT, load_config
from engine.messages import fail
from finetune.recipe import apply_recipe

from .det_seg import det_recipe, seg_recipe
from .fcmae import fcmae_recipe
from .finetune import finetune_recipe
from .page import config_paths, ours_column


def describe(path, cfg_options=None):
    """(short name, {label: value text}) of one config, by the package that owns its kind."""
    cfg = load_config(path, cfg_options)
    if 'recipe' in cfg:
        return finetune_recipe(apply_recipe(cfg))
    if cfg.model.type == 'FCMAE':
        return fcmae_recipe(cfg)
    kinds = {'mmdet': det_recipe, 'mmseg': seg_recipe}
    if cfg.get('default_scope') not in kinds:
        fail(f'{path}: not a det, seg, finetune or FCMAE config (default_scope '
             f'{cfg.get("default_scope")!r}, no recipe, model {cfg.model.type})')
    return kinds[cfg.default_scope](cfg)


def column_for(patterns):
    """The merged "ours" column of a page marker's configs, smallest size first."""
    described = [describe(path) for path in config_paths(patterns, REPO_ROOT)]
    letters = [size[0].upper() for size in ARCHS]
    return ours_column(sorted(described, key=lambda item: (letters.index(item[0][0]), item[0])))
