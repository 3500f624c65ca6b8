"""Print the recipe of det / seg / finetune / FCMAE configs, or refresh docs/recipes.md.

    python tools/print_recipe.py det_configs/mask-rcnn_convnextv2-tiny_fpn_lsj-3x_coco.py
    python tools/print_recipe.py finetune/configs/finetune_convnextv2_base_100e_in1k.py \\
        --cfg-options recipe.base_lr=6.25e-3          # what an override changes
    python tools/print_recipe.py --update-doc docs/recipes.md   # rewrite the "ours" columns
    python tools/print_recipe.py --check-doc docs/recipes.md    # exit 1 if the page is stale

reports/recipes/ describes each kind of config (det_seg, finetune, fcmae) and merges the sizes of
a table in the paper's notation (page).
"""
import argparse
import os.path as osp

from mmengine.config import DictAction

from engine.messages import fail
from reports.recipes.describe import column_for, describe
from reports.recipes.page import fill_page


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
