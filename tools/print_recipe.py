"""Print the recipe of det / seg / finetune / FCMAE configs, or refresh docs/recipes.md.

    python tools/print_recipe.py det_configs/mask-rcnn_convnextv2-tiny_fpn_lsj-3x_coco.py
    python tools/print_recipe.py finetune/configs/finetune_convnextv2_base_100e_in1k.py \\
        --cfg-options recipe.base_lr=6.25e-3          # what an override changes
    python tools/print_recipe.py --update-doc docs/recipes.md   # rewrite the "ours" columns
    python tools/print_recipe.py --check-doc docs/recipes.md    # exit 1 if the page is stale

Each config's own package describes it (downstream/, finetune/, pretrain/ recipe_table.py);
engine/recipe_table.py merges the sizes of a table in the paper's notation and fills the page.
"""
import argparse
import os.path as osp

from mmengine.config import DictAction

from backbones.variants import ARCHS
from downstream.recipe_table import det_recipe, seg_recipe
from engine.launch import REPO_ROOT, load_config
from engine.messages import fail
from engine.recipe_table import config_paths, fill_page, ours_column
from finetune.recipe import apply_recipe
from finetune.recipe_table import finetune_recipe
from pretrain.recipe_table import fcmae_recipe


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*', metavar='CONFIG')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries before printing')
    page = parser.add_mutually_exclusive_group()
    page.add_argument('--update-doc', metavar='PAGE', help='rewrite the "ours" columns of PAGE')
    page.add_argument('--check-doc', metavar='PAGE',
                      help='exit 1 when the "ours" columns of PAGE differ from the configs')
    args = parser.parse_args(argv)
    if not args.configs and not (args.update_doc or args.check_doc):
        parser.error('give CONFIG files, --update-doc PAGE or --check-doc PAGE')
    return args


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


def main(argv=None):
    args = parse_args(argv)
    for path in args.configs:
        name, rows = describe(path, args.cfg_options)
        width = max(map(len, rows))
        print(f'{osp.relpath(path)} ({name}):')
        print('\n'.join(f'  {label:{width}s}  {value}' for label, value in rows.items()))
    page = args.update_doc or args.check_doc
    if not page:
        return 0
    if not osp.isfile(page):
        fail(f'{page}: no such page')
    text = open(page).read()
    new_text, problems = fill_page(text, column_for)
    if problems:
        fail(f'{page}: ' + '; '.join(problems) + ' (edit the page by hand)', code=1)
    if args.update_doc:
        if new_text != text:
            with open(page, 'w') as f:
                f.write(new_text)
        print(f'{page}: "ours" columns {"rewritten" if new_text != text else "already current"}')
        return 0
    if new_text != text:
        stale = [line for line in new_text.split('\n') if line not in text.split('\n')]
        fail(f'{page} no longer matches the configs ({len(stale)} row(s), first: {stale[0]}); '
             f'run python tools/print_recipe.py --update-doc {page}', code=1)
    print(f'{page}: matches the configs')
    return 0


if __name__ == '__main__':
    main()
