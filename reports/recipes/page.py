"""The "ours" column of docs/recipes.md, generated from the resolved configs.

A table of the page is preceded by a marker naming the configs it describes (globs, from the
repository root)::

    <!-- ours: det_configs/mask-rcnn_convnextv2-*_fpn_lsj-3x_coco.py -->

and has a column headed ``ours``; the first cell of each row is a hyper-parameter's label. Each
package describes one resolved config as ``(short name, {label: value text})``; ``merge`` writes
the values of several configs in the paper's notation, ``0.2 (A/F/P/N), 0.3 (T)``, and
``fill_page`` rewrites the ``ours`` cells. Every label a package reports must have a row, and
every row must be reported: a page that says less, or more, than the configs is stale.
"""
import glob
import os.path as osp
import re

MARKER = re.compile(r'^<!-- ours: (?P<patterns>[^>]+?) -->\s*$')
_CELL_SPLIT = re.compile(r'(?<!\\)\|')


def number(value):
    """A number as the paper's tables write it: 1e-4, 6.25e-4, 0.05, 36."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if value == int(value) and abs(value) >= 1:
        return str(int(value))
    if value != 0 and abs(value) < 1e-2:
        mantissa, exponent = f'{value:e}'.split('e')
        return f'{mantissa.rstrip("0").rstrip(".")}e{int(exponent)}'
    return f'{value:g}'


def merge(values_by_name):
    """One cell for several configs: the value when they agree, else ``v (names), ...`` in the
    order the configs came. Names ``SIZE VARIANT`` are written ``A/F 800e`` when every variant
    of the group has the same sizes (``A/F 800e/1600e``)."""
    groups = {}
    for name, value in values_by_name.items():
        groups.setdefault(value, []).append(name)
    if len(groups) == 1:
        return next(iter(groups))
    return ', '.join(f'{value} ({_names(names)})' for value, names in groups.items())


def _names(names):
    by_variant = {}
    for name in names:
        size, _, variant = name.partition(' ')
        by_variant.setdefault(variant, []).append(size)
    sizes = list(by_variant.values())
    if '' in by_variant or any(s != sizes[0] for s in sizes):
        return '/'.join(names)
    return '/'.join(sizes[0]) + ' ' + '/'.join(by_variant)


def ours_column(described):
    """``[(name, {label: text})]`` of several configs -> ``{label: merged text}``."""
    labels = list(dict.fromkeys(label for _, rows in described for label in rows))
    column = {}
    for label in labels:
        missing = [name for name, rows in described if label not in rows]
        if missing:
            raise KeyError(f'{label!r} is not reported for {", ".join(missing)}')
        column[label] = merge({name: rows[label] for name, rows in described})
    return column


def config_paths(patterns, root):
    """The config files a marker names, sorted within each glob; each glob must match."""
    paths = []
    for pattern in patterns.split():
        found = sorted(glob.glob(osp.join(root, pattern)))
        if not found:
            raise FileNotFoundError(f'recipe marker glob {pattern!r} matches no config under {root}')
        paths.extend(found)
    return paths


def fill_page(text, column_for):
    """Rewrite the ``ours`` cells of every marked table of ``text``.

    ``column_for(patterns)`` returns ``{label: text}`` for a marker's configs. Returns
    ``(new_text, problems)``; problems name rows without a generated value and generated labels
    without a row (both need the page edited by hand)."""
    lines = text.split('\n')
    problems = []
    i = 0
    while i < len(lines):
        marker = MARKER.match(lines[i])
        i += 1
        if not marker:
            continue
        patterns = marker.group('patterns')
        while i < len(lines) and not lines[i].startswith('|'):
            i += 1
        header = _cells(lines[i]) if i < len(lines) else []
        if 'ours' not in header:
            problems.append(f'the table after "<!-- ours: {patterns} -->" has no "ours" column')
            continue
        at = header.index('ours')
        column = dict(column_for(patterns))
        i += 2   # header and the |---| line
        while i < len(lines) and lines[i].startswith('|'):
            cells = _cells(lines[i])
            label = cells[0]
            if label not in column:
                problems.append(f'{patterns}: row "{label}" is not generated from the configs')
            else:
                cells[at] = column.pop(label).replace('|', '\\|')
                lines[i] = '| ' + ' | '.join(cells) + ' |'
            i += 1
        problems.extend(f'{patterns}: "{label}" ({value}) has no row in the table'
                        for label, value in column.items())
    return '\n'.join(lines), problems


def _cells(line):
    return [cell.strip() for cell in _CELL_SPLIT.split(line.strip().strip('|'))]
