"""README and docs/ pages: every path they name exists, and the README stays one screen of tasks."""
import glob
import os.path as osp
import re

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAGES = ['README.md'] + sorted(glob.glob('docs/*.md', root_dir=REPO))
# a repository path written in a page: a top-level folder of ours, then a file or folder name
PATH = re.compile(r'(?<![\w/.-])((?:tools|docs|det_configs|seg_configs|backbones|engine|pretrain|'
                  r'finetune|downstream|analysis|reports|tests)/[\w./{}<>*,-]*[\w}>*])')


def named_paths(page):
    with open(osp.join(REPO, page)) as f:
        text = f.read()
    return {m for m in PATH.findall(text) if not set(m) & set('*<{')}   # patterns


def test_every_path_the_pages_name_exists():
    missing = [f'{page}: {path}' for page in PAGES for path in sorted(named_paths(page))
               if not osp.exists(osp.join(REPO, path)) and not osp.exists(osp.join(REPO, 'docs', path))]
    assert not missing, missing


def test_path_check_can_fail(tmp_path):
    assert 'tools/no_such_tool.py' in PATH.findall('run python tools/no_such_tool.py now')


def test_readme_links_every_docs_page():
    with open(osp.join(REPO, 'README.md')) as f:
        readme = f.read()
    unlinked = [page for page in PAGES[1:] if page not in readme]
    assert not unlinked, f'README.md does not link {unlinked}'
