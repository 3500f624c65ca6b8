"""What a detection or segmentation set holds, checked against the config that trains on it.

mmdet's and mmseg's loaders drop what they cannot use without a word: an annotation of an image or
category the file does not list, a box of under 1 px or outside its image, every annotation of a
category that is not among the config's classes (a 6-category file for a 4-class config loses a
third of its annotations); a negative box width trains with a zero box loss; and a head whose
``num_classes`` is not the dataset's class count trains on the wrong targets. Each check here
returns one-line messages (what, where, the fix):

* ``coco_problems(coco, classes, source)`` -> (errors, notes) of a COCO instances dict: unique
  image ids, width/height of every image, annotations of listed images and categories, boxes of 4
  finite numbers with w, h > 0 and a numeric area, no annotations of categories outside ``classes``;
  the notes count the boxes the loader will drop (under 1 px, area <= 0, outside the image);
* ``class_count_problems(model_cfg, pipeline, classes, where)``: every head's ``num_classes`` (the
  RPN's class-agnostic one aside) and every ``CheckSegMap``'s is the dataset's class count;
* ``label_map_problems(entry)``: an ADE20K label map holds only values of the class range (1..N
  and the "other" 0 with ``reduce_zero_label``, 0..N-1 without) and the ignore index;
* ``label_size_problem(dataset_cfg, where)``: every label map of a (validation / test) set has its
  image's size, read from the file headers.

``downstream/preflight.py`` runs the first two and the last before a run (it reads the COCO file
anyway; label map sizes of the evaluated sets, whose mismatch would stop an evaluation mid-run);
``tools/check_dataset.py`` runs all three (``sets_problems`` on the built datasets, the label maps
in its decoding pool: ``with_label_checks``).
"""
import json
import math
from collections import Counter

import numpy as np

from engine.messages import short_list

BOX_HOWTO = ('COCO boxes are [x, y, width, height] (boxes written as [x1, y1, x2, y2] read this way): '
             'fix or remove those annotations')


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _counted(counter):
    """``[a (3), b (1)]``: names with how often they occur, the most frequent first."""
    return short_list(f'{name} ({count})' for name, count in counter.most_common())


def _repeated(values):
    return sorted((v for v, n in Counter(values).items() if n > 1), key=str)


# -- COCO ------------------------------------------------------------------------------------------
def coco_problems(coco, classes, source):
    """(errors, notes) of a COCO instances dict (``images``, ``annotations``, ``categories`` lists);
    ``classes`` are the config's class names (None: not checked), ``source`` starts each message."""
    images, annotations = coco['images'], coco['annotations']
    errors = _image_problems(images, source) + _category_problems(coco['categories'], source)
    sizes = {im.get('id'): (im.get('width'), im.get('height')) for im in images}
    names = {c.get('id'): c.get('name') for c in coco['categories']}
    total = len(annotations)

    orphans = [a.get('image_id') for a in annotations if a.get('image_id') not in sizes]
    if orphans:
        errors.append(f'{source}: {len(orphans)} of {total} annotations belong to image ids that '
                      f'"images" does not list: {_counted(Counter(orphans))}; add those images or '
                      'remove the annotations')
    unlisted = Counter(a.get('category_id') for a in annotations if a.get('category_id') not in names)
    if unlisted:
        errors.append(f'{source}: {sum(unlisted.values())} of {total} annotations are of category ids '
                      f'that "categories" does not list: {_counted(unlisted)}; add those categories '
                      'or remove the annotations')
    if classes is not None:
        wanted = set(classes)
        outside = Counter(names[a['category_id']] for a in annotations
                          if a.get('category_id') in names and names[a['category_id']] not in wanted)
        if outside:
            errors.append(
                f'{source}: {sum(outside.values())} of {total} annotations are of categories that are '
                f'not among the config\'s {len(classes)} classes {short_list(classes)}: '
                f'{_counted(outside)}; they would be dropped without a word: add them to '
                'metainfo=dict(classes=...) and set every head\'s num_classes to match, or remove '
                'them from the file')
    box_errors, dropped = _box_problems(annotations, sizes, source)
    notes = []
    if dropped:
        notes.append(f'{source}: {dropped} of {total} annotations will be dropped when the set is '
                     'loaded (box under 1 px, area <= 0, or outside its image)')
    return errors + box_errors, notes


def _image_problems(images, source):
    errors = []
    repeated = _repeated(im.get('id') for im in images)
    if repeated:
        errors.append(f'{source}: image ids {short_list(repeated)} appear more than once in "images"; '
                      'give every image its own id')
    unsized = [im.get('id') for im in images
               if not (_number(im.get('width')) and _number(im.get('height')) and im.get('file_name'))]
    if unsized:
        errors.append(f'{source}: {len(unsized)} of {len(images)} images lack a file_name, width or '
                      f'height (ids {short_list(unsized)}); every COCO image entry needs all three')
    return errors


def _category_problems(categories, source):
    repeated = _repeated(c.get('id') for c in categories)
    if repeated:
        return [f'{source}: category ids {short_list(repeated)} appear more than once in '
                '"categories"; give every category its own id']
    return []


def _box_problems(annotations, sizes, source):
    """(errors, number of boxes the loader drops) - the rule of mmdet's CocoDataset.parse_data_info,
    on arrays (COCO train2017 has 860k annotations)."""
    boxes = [a.get('bbox') for a in annotations]
    areas = [a.get('area') for a in annotations]
    if _all_numbers(boxes, areas):
        formed = np.ones(len(annotations), bool)
    else:
        formed = np.array([isinstance(b, (list, tuple)) and len(b) == 4 and all(map(_number, b))
                           and _number(a) for b, a in zip(boxes, areas)], bool)
    index = np.flatnonzero(formed)
    if len(index) < len(annotations):
        boxes, areas = [boxes[i] for i in index], [areas[i] for i in index]
    xywh = np.array(boxes, np.float64).reshape(-1, 4)
    area = np.array(areas, np.float64)
    finite = np.isfinite(xywh).all(1) & np.isfinite(area)
    formed[index[~finite]] = False
    xywh, area, index = xywh[finite], area[finite], index[finite]
    empty = (xywh[:, 2] <= 0) | (xywh[:, 3] <= 0)
    numeric = {image_id: _numeric_size(size) for image_id, size in sizes.items()}
    unknown = (np.nan, np.nan)
    image = np.array([numeric.get(annotations[i].get('image_id'), unknown) for i in index],
                     np.float64).reshape(-1, 2)
    x, y, w, h = xywh.T
    inside_w = np.maximum(0, np.minimum(x + w, image[:, 0]) - np.maximum(x, 0))
    inside_h = np.maximum(0, np.minimum(y + h, image[:, 1]) - np.maximum(y, 0))
    dropped = (inside_w * inside_h == 0) | (area <= 0) | (w < 1) | (h < 1)
    dropped &= ~empty & np.isfinite(image).all(1)
    errors, total = [], len(annotations)
    if not formed.all():
        first = annotations[int(np.flatnonzero(~formed)[0])]
        errors.append(f'{source}: {int((~formed).sum())} of {total} annotations lack a bbox of 4 '
                      f'finite numbers or a numeric area (e.g. annotation id {first.get("id")}: bbox '
                      f'{first.get("bbox")!r}, area {first.get("area")!r}); {BOX_HOWTO}')
    if empty.any():
        first = annotations[int(index[empty][0])]
        errors.append(f'{source}: {int(empty.sum())} of {total} boxes have a width or height <= 0 '
                      f'(e.g. annotation id {first.get("id")}: bbox {first["bbox"]}); {BOX_HOWTO}')
    return errors, int(dropped.sum())


def _all_numbers(boxes, areas):
    """Every box a list of 4 and every value an int or float (checked in bulk)."""
    from itertools import chain
    if not all(type(b) in (list, tuple) and len(b) == 4 for b in boxes):
        return False
    kinds = set(map(type, chain.from_iterable(boxes))) | set(map(type, areas))
    return kinds <= {int, float}


def _numeric_size(size):
    width, height = size
    return (width, height) if _number(width) and _number(height) else (np.nan, np.nan)


def read_coco(path):
    with open(path) as f:
        return json.load(f)


# -- heads and datasets ----------------------------------------------------------------------------
def head_class_counts(node, where='model'):
    """(config key, num_classes) of every head in a model config, the RPN's aside."""
    if isinstance(node, dict):
        if isinstance(node.get('num_classes'), int):
            yield f'{where}.num_classes', node['num_classes']
        for key, value in node.items():
            if key not in ('rpn_head', 'train_cfg', 'test_cfg'):
                yield from head_class_counts(value, f'{where}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from head_class_counts(value, f'{where}.{i}')


def check_seg_map_counts(node, where='pipeline'):
    """(where, num_classes) of every CheckSegMap in a pipeline: a config list (TTA lists included)
    or a built one (``Compose`` and its transforms)."""
    if isinstance(node, dict):
        if str(node.get('type', '')).split('.')[-1] == 'CheckSegMap':
            yield where, node.get('num_classes', 150)
        for key, value in node.items():
            yield from check_seg_map_counts(value, f'{where}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from check_seg_map_counts(value, f'{where}.{i}')
    elif type(node).__name__ == 'CheckSegMap':
        yield where, node.num_classes
    else:
        for attribute in ('transforms', 'subroutines'):   # Compose, TestTimeAug
            inner = getattr(node, attribute, None)
            if isinstance(inner, (list, tuple)):
                yield from check_seg_map_counts(inner, where)


def class_count_problems(model_cfg, pipeline, classes, where):
    """[one line] when a head's or a CheckSegMap's class count is not ``len(classes)``, else []."""
    count = len(classes)
    found = list(head_class_counts(model_cfg or {}))
    found += [(f'{where}.dataset.{key} CheckSegMap num_classes', n)
              for key, n in check_seg_map_counts(pipeline or [], 'pipeline')]
    wrong = [(key, n) for key, n in found if n != count]
    if not wrong:
        return []
    keys = ', '.join(f'{key}={n}' for key, n in wrong)
    return [f'{keys} but {where}\'s dataset has {count} classes {short_list(classes)}; set '
            f'num_classes={count} there, or metainfo=dict(classes=...) to the classes the model '
            'predicts']


# -- ADE20K label maps -----------------------------------------------------------------------------
def valid_label_values(num_classes, reduce_zero_label):
    """(lowest, highest) stored value of a label map of ``num_classes`` classes."""
    return (0, num_classes) if reduce_zero_label else (0, num_classes - 1)


def label_map_problems(entry):
    """[(path, reason)] for a label map holding values outside its class range; ``entry`` carries
    ``seg_map_path`` and ``label_range`` = (num_classes, reduce_zero_label, ignore_index). A file
    that cannot be read is left to the decoding check (engine/dataset_check.py)."""
    from PIL import Image
    path = entry['seg_map_path']
    num_classes, reduce_zero_label, ignore_index = entry['label_range']
    try:
        with Image.open(path) as image:
            labels = np.asarray(image)
    except Exception:   # Pillow raises many types; the decoding check names the problem
        return []
    if labels.ndim != 2:
        return [(path, f'label map has shape {labels.shape}: it must be a single-channel PNG of '
                       'class indices, not a colour image')]
    low, high = valid_label_values(num_classes, reduce_zero_label)
    values = np.unique(labels)
    bad = [int(v) for v in values if not (low <= v <= high or v == ignore_index)]
    if bad:
        return [(path, f'label values {short_list(bad)} outside {low}..{high} (and the ignore index '
                       f'{ignore_index}) for {num_classes} classes; fix the file or the class list')]
    return []


LABEL_SIZE_LIMIT = 5000   # label maps whose headers the preflight reads (ADE20K val: 2000)


def label_size_problem(dataset_cfg, where):
    """One line when a label map of a segmentation set's config (``data_root`` + ``data_prefix``
    ``img_path`` / ``seg_map_path``) is not of its image's size, read from the file headers; None
    when they all fit, the folders are not local ones, or the set has more than
    ``LABEL_SIZE_LIMIT`` label maps (tools/check_dataset.py reads every one)."""
    import os
    from PIL import Image
    prefix = dataset_cfg.get('data_prefix') or {}
    root = dataset_cfg.get('data_root') or ''
    folders = [os.path.join(root, prefix.get(k) or '') for k in ('img_path', 'seg_map_path')]
    if dataset_cfg.get('backend_args') or not all(prefix.get(k) for k in ('img_path', 'seg_map_path')) \
            or not all(map(os.path.isdir, folders)):
        return None
    labels = sorted(os.listdir(folders[1]))
    if len(labels) > LABEL_SIZE_LIMIT:
        return None
    images = {os.path.splitext(name)[0]: name for name in os.listdir(folders[0])}
    wrong = []
    for name in labels:
        image = images.get(os.path.splitext(name)[0])
        if image is None:
            continue   # the dataset's own listing names label maps without an image
        try:
            with Image.open(os.path.join(folders[1], name)) as label, \
                    Image.open(os.path.join(folders[0], image)) as picture:
                if label.size != picture.size:
                    wrong.append((name, label.size, picture.size))
        except Exception:   # an unreadable file: skipped in training, named by check_dataset
            continue
    if not wrong:
        return None
    name, (lw, lh), (iw, ih) = wrong[0]
    return (f'{where}: {len(wrong)} of {len(labels)} label maps in {folders[1]} are not of their '
            f'image\'s size, e.g. {name} is {lw}x{lh} but its image {iw}x{ih}; evaluation would stop '
            'there: fix or remove them (python tools/check_dataset.py CONFIG lists them all)')


# -- a built dataset (tools/check_dataset.py) -----------------------------------------------------
def lazy_copy(dataset_cfg):
    """A copy of an mmengine dataset config whose datasets (inside wrappers too) are built with
    ``lazy_init=True``: metainfo, files and pipeline are known, the annotations not yet read."""
    if isinstance(dataset_cfg, (list, tuple)):
        return type(dataset_cfg)(lazy_copy(item) for item in dataset_cfg)
    copied = type(dataset_cfg)(dataset_cfg)
    for key in ('dataset', 'datasets'):
        if key in copied:
            copied[key] = lazy_copy(copied[key])
            return copied
    copied['lazy_init'] = True
    return copied


def leaf_datasets(dataset):
    """The datasets inside wrappers (ConcatDataset, RepeatDataset, ...) of a built dataset."""
    if hasattr(dataset, 'sample_files'):   # lists its own files (finetune, FCMAE folders)
        yield dataset
        return
    for attribute in ('datasets', 'dataset'):
        inner = getattr(dataset, attribute, None)
        if inner is not None:
            for item in inner if isinstance(inner, (list, tuple)) else [inner]:
                yield from leaf_datasets(item)
            return
    yield dataset


def dataset_problems(dataset, model_cfg, where):
    """(errors, notes) of a built mmdet/mmseg dataset: its class count against the model's heads
    and its pipeline's CheckSegMap, and a COCO file's content."""
    errors, notes = [], []
    classes = list((getattr(dataset, 'metainfo', None) or {}).get('classes') or ())
    if classes:
        errors += class_count_problems(model_cfg, getattr(dataset, 'pipeline', None), classes, where)
    if _is_coco(dataset):
        more_errors, notes = coco_problems(read_coco(dataset.ann_file), classes or None,
                                           f'{where}: {dataset.ann_file}')
        errors += more_errors
    return errors, notes


def sets_problems(datasets, model_cfg):
    """(errors, notes) of every dataset in [(loader name, built dataset)]; a problem that the
    train and val sets share (the same heads, the same classes) is named once."""
    errors, notes, seen = [], [], set()
    for loader, dataset in datasets:
        for leaf in leaf_datasets(dataset):
            more_errors, more_notes = dataset_problems(leaf, model_cfg, loader)
            for error in more_errors:
                if error.replace(loader, '') not in seen:
                    seen.add(error.replace(loader, ''))
                    errors.append(error)
            notes += more_notes
    return errors, notes


def with_label_checks(dataset, entries):
    """``entries`` of a segmentation dataset with the label-value check attached (others as given)."""
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    if not classes or not hasattr(dataset, 'ignore_index'):
        return entries
    label_range = (len(classes), bool(getattr(dataset, 'reduce_zero_label', False)),
                   dataset.ignore_index)
    return [dict(entry, label_range=label_range, checks=(label_map_problems,))
            if entry.get('seg_map_path') else entry for entry in entries]


def _is_coco(dataset):
    try:
        from mmdet.datasets import CocoDataset
    except ImportError:
        return False
    return isinstance(dataset, CocoDataset) and str(getattr(dataset, 'ann_file', '')).endswith('.json')
