"""docs/recipes.md: its "ours" columns are what the configs resolve to, row for row."""
import functools
import os.path as osp

import pytest

from reports.recipes.page import fill_page, merge, number
from tools import print_recipe

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAGE = osp.join(REPO, 'docs', 'recipes.md')
FIX = 'python tools/print_recipe.py --update-doc docs/recipes.md'


@pytest.fixture(scope='module')
def column_for():
    return functools.lru_cache(maxsize=None)(print_recipe.column_for)


def test_the_page_matches_the_configs(column_for):
    text = open(PAGE).read()
    new_text, problems = fill_page(text, column_for)
    assert not problems, problems
    stale = [line for line in new_text.split('\n') if line not in text.split('\n')]
    assert not stale, f'docs/recipes.md is stale ({FIX}): {stale[:3]}'


def test_every_task_has_a_generated_table():
    text = open(PAGE).read()
    for configs in ('det_configs/', 'seg_configs/', 'finetune/configs/', 'pretrain/configs/'):
        assert f'<!-- ours: {configs}' in text, configs


def test_a_config_change_shows_on_the_page(column_for):
    text = open(PAGE).read()

    def changed(patterns):
        column = dict(column_for(patterns))
        if patterns.startswith('det_configs/mask-rcnn'):
            column['lr'] = '2e-4'
        return column

    new_text, problems = fill_page(text, changed)
    assert not problems
    stale = [line for line in new_text.split('\n') if line not in text.split('\n')]
    assert len(stale) == 1 and stale[0].startswith('| lr |') and '| 2e-4 |' in stale[0]


def test_a_missing_or_extra_row_is_reported(column_for):
    text = open(PAGE).read()
    det = text.index('<!-- ours: det_configs/')
    lr_row = text.index('| lr |', det)
    end = text.index('\n', lr_row)
    edited = text[:lr_row] + '| made-up knob | 1 | — | — | 2 | |' + text[end:]
    _, problems = fill_page(edited, column_for)
    assert any('"made-up knob" is not generated' in p for p in problems)
    assert any('"lr" (1e-4) has no row' in p for p in problems)


def test_an_override_is_what_the_tool_prints(capsys):
    config = osp.join(REPO, 'finetune', 'configs', 'finetune_convnextv2_base_100e_in1k.py')
    print_recipe.main([config, '--cfg-options', 'recipe.base_lr=6.25e-3'])
    out = capsys.readouterr().out
    assert 'base lr                           6.25e-3' in out
    assert 'lr (base lr x batch / 256)        0.025' in out   # Table 11's value


def test_the_papers_notation():
    assert merge({'A': '0.2', 'F': '0.2', 'T': '0.3'}) == '0.2 (A/F), 0.3 (T)'
    assert merge({'A 800e': '800', 'F 800e': '800', 'A 1600e': '1600'}) == \
        '800 (A/F 800e), 1600 (A 1600e)'
    assert merge({'A 1600e': '64', 'A 800e': '64', 'L 1600e': '32', 'L 800e': '32'}) == \
        '64 (A 1600e/800e), 32 (L 1600e/800e)'
    assert merge({'A': 'x', 'B': 'x'}) == 'x'
    assert [number(v) for v in (1e-4, 6.25e-4, 0.05, 36, 1.0, 1e-8, 0.9999)] == \
        ['1e-4', '6.25e-4', '0.05', '36', '1', '1e-8', '0.9999']
