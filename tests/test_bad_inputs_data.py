"""Bad data and bad options stop in one line before any work (issue 24, the data-and-options half).

The table: small generated COCO / ADE20K sets with one fault each, and option values a tool used to
ignore or misread (0 taken for "unset", unknown names, --device cuda without a GPU, an existing
output). Each case runs the real command (tests/bad_input_harness.py) and must exit non-zero with
at most 3 lines naming the problem and the fix, within seconds, with no watched file changed.
The unit tests check downstream/dataset_content.py against mmdet's and mmseg's own loaders: the
annotations we say will be dropped are exactly those CocoDataset leaves out, and a label map we
pass is one CheckSegMap passes at run time.
"""
import copy
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from downstream import dataset_content
from downstream.synthetic_ade20k import make_synthetic_ade20k
from downstream.synthetic_coco import make_synthetic_coco
from engine.launch import REPO_ROOT
from reports.quickstart import TOY_CONFIG, data_options
from tests.bad_input_harness import Case, report, run_cases

SEG_TOY = osp.join(REPO_ROOT, 'seg_configs', 'upernet_convnextv2-atto_toy-synthetic-ade20k.py')
FINETUNE_TOY = osp.join(REPO_ROOT, 'finetune', 'configs', 'toy', 'finetune_convnextv2_atto_toy.py')
TRAIN_JSON = osp.join('annotations', 'instances_train2017.json')
VAL_JSON = osp.join('annotations', 'instances_val2017.json')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def read_json(path):
    with open(path) as f:
        return json.load(f)


# -- the sets ------------------------------------------------------------------------------------
@pytest.fixture(scope='session')
def base_sets(tmp_path_factory):
    """A good tiny COCO set and a good tiny ADE20K set (the faulty ones are variants of these)."""
    root = tmp_path_factory.mktemp('good_sets')
    coco = str(root / 'coco')
    make_synthetic_coco(coco, num_train=4, num_val=2, image_size=64, max_objects=3)
    ade = make_synthetic_ade20k(str(root / 'ade'), num_train=3, num_val=2, size=(32, 40))
    return coco, ade


def coco_variant(base, folder, change_train=None, change_val=None):
    """A COCO set in ``folder`` whose images are the base set's (links) and whose annotation files
    are the base set's after ``change_*`` (functions that edit the dict in place)."""
    os.makedirs(osp.join(folder, 'annotations'))
    for split in ('train2017', 'val2017'):
        os.symlink(osp.join(base, split), osp.join(folder, split))
    for name, change in ((TRAIN_JSON, change_train), (VAL_JSON, change_val)):
        coco = read_json(osp.join(base, name))
        if change:
            change(coco)
        with open(osp.join(folder, name), 'w') as f:
            json.dump(coco, f)
    return folder


def ade_variant(base, folder, change):
    """A copy of the ADE20K set in ``folder`` with ``change(label_dir, image_dir)`` applied."""
    shutil.copytree(base, folder)
    change(osp.join(folder, 'annotations', 'training'), osp.join(folder, 'images', 'training'))
    return folder


def first_label_map(label_dir):
    return osp.join(label_dir, sorted(os.listdir(label_dir))[0])


def put_value(value):
    def change(label_dir, _):
        path = first_label_map(label_dir)
        labels = np.array(Image.open(path))
        labels[0, :3] = value
        Image.fromarray(labels).save(path)
    return change


def make_colour(label_dir, _):
    path = first_label_map(label_dir)
    labels = np.array(Image.open(path))
    Image.fromarray(np.stack([labels] * 3, -1)).save(path)


def make_smaller(label_dir, _):
    path = first_label_map(label_dir)
    image = Image.open(path)
    image.resize((image.width - 4, image.height), Image.NEAREST).save(path)


# -- COCO faults ---------------------------------------------------------------------------------
def negative_width(coco):
    coco['annotations'][0]['bbox'][2] = -5.0


def six_categories(coco):
    """Two more categories, and the first two annotations moved to them (a 4-class config)."""
    coco['categories'] += [dict(id=5, name='star', supercategory='shape'),
                           dict(id=6, name='cross', supercategory='shape')]
    coco['annotations'][0]['category_id'] = 5
    coco['annotations'][1]['category_id'] = 6


def unlisted_category(coco):
    coco['annotations'][0]['category_id'] = 99


def orphan_annotation(coco):
    coco['annotations'][0]['image_id'] = 999


def repeated_image_id(coco):
    coco['images'].append(dict(coco['images'][0], file_name=coco['images'][1]['file_name']))


def three_number_box(coco):
    coco['annotations'][0]['bbox'] = coco['annotations'][0]['bbox'][:3]


COCO_FAULTS = {   # name: (change, words the message names)
    'negative_width': (negative_width, ['width or height <= 0', '[x, y, width, height]']),
    'six_categories_for_four_classes': (six_categories, ['star', 'cross', 'not among the config',
                                                         'num_classes']),
    'unlisted_category_id': (unlisted_category, ['99', 'categories']),
    'annotation_of_unlisted_image': (orphan_annotation, ['999', 'images']),
    'repeated_image_id': (repeated_image_id, ['more than once']),
    'three_number_box': (three_number_box, ['bbox of 4']),
}


# -- the table -----------------------------------------------------------------------------------
@pytest.fixture(scope='session')
def table(base_sets, tmp_path_factory):
    coco, ade = base_sets
    root = tmp_path_factory.mktemp('bad_data_cases')
    outputs = str(tmp_path_factory.mktemp('bad_data_outputs'))   # lists a failing check may write
    cases = []

    def train(name, data, *options, config=TOY_CONFIG, expect=(), tool='tools/train.py', extra=()):
        work_dir = str(root / f'work_{name}')
        cases.append(Case(name, [tool, config, *extra, '--work-dir', work_dir, '--cfg-options',
                                 *data_options(data), *options],
                          watch=[data, work_dir], expect=list(expect)))

    def check(name, data, *options, config=TOY_CONFIG, expect=(), seg=False, extra=()):
        data_opts = seg_options(data) if seg else data_options(data)
        cases.append(Case(name, ['tools/check_dataset.py', config, '--out',
                                 osp.join(outputs, f'{name}.txt'), *extra, '--cfg-options',
                                 *data_opts, *options], watch=[data], expect=list(expect)))

    # COCO content: tools/train.py (the preflight) and tools/check_dataset.py (all checks)
    for name, (change, words) in COCO_FAULTS.items():
        data = coco_variant(coco, str(root / name), change_train=change)
        train(f'train {name}', data, expect=words)
        if name in ('negative_width', 'six_categories_for_four_classes', 'unlisted_category_id'):
            check(f'check_dataset {name}', data, expect=words)
    train('train head of 5 classes, 4 in the set', coco, 'model.roi_head.bbox_head.num_classes=5',
          expect=['bbox_head.num_classes=5', '4 classes'])
    six = coco_variant(coco, str(root / 'six_classes'), six_categories, six_categories)
    classes = 'circle,square,triangle,ring,star,cross'
    train('train six classes listed, heads of 4', six,
          *[f'{loader}.dataset.metainfo.classes=[{classes}]' for loader in LOADERS],
          expect=['num_classes=4', '6 classes', 'num_classes=6'])
    check('check_dataset head of 5 classes', coco, 'model.roi_head.mask_head.num_classes=5',
          expect=['mask_head.num_classes=5', '4 classes'])
    cases.append(Case('test negative width in the val set', [
        'tools/test.py', TOY_CONFIG, toy_checkpoint(root), '--work-dir', str(root / 'work_test'),
        '--cfg-options', *data_options(coco_variant(coco, str(root / 'val_negative'),
                                                    change_val=negative_width))],
        watch=[str(root / 'val_negative'), str(root / 'work_test')],
        expect=['width or height <= 0']))

    # ADE20K content: tools/check_dataset.py decodes every label map
    for name, change, words in (('label value 200', put_value(200), ['[200]', '0..150', '255']),
                                ('colour label map', make_colour, ['single-channel']),
                                ('label map smaller than its image', make_smaller, ['label map is'])):
        data = ade_variant(ade, str(root / name.replace(' ', '_')), change)
        check(f'check_dataset {name}', data, config=SEG_TOY, seg=True, expect=words)
    check('check_dataset seg head of 151 classes', ade, 'model.decode_head.num_classes=151',
          config=SEG_TOY, seg=True, expect=['decode_head.num_classes=151', '150 classes'])

    # outputs and option values of check_dataset
    existing = osp.join(str(root), 'earlier_bad_files.txt')
    with open(existing, 'w') as f:
        f.write('an earlier list\n')
    cases.append(Case('check_dataset --out existing', [
        'tools/check_dataset.py', TOY_CONFIG, '--out', existing, '--cfg-options',
        *data_options(coco)], watch=[existing, coco], expect=['already exists', '--force']))
    check('check_dataset --workers 0', coco, extra=['--workers', '0'], expect=['at least 1'])
    cases.append(Case('check_dataset --out is a folder', [
        'tools/check_dataset.py', TOY_CONFIG, '--out', coco, '--cfg-options', *data_options(coco)],
        watch=[coco], expect=['not a file']))

    # quickstart_det: 0 is a value, not "unset"; options that do not apply are refused
    quick = ['tools/quickstart_det.py', '--data-root', coco, '--work-dir', str(root / 'work_quick')]
    for name, options, words in (
            ('--epochs 0', ['--epochs', '0'], ['--epochs', 'at least 1']),
            ('--epochs -3', ['--epochs', '-3'], ['--epochs', 'at least 1']),
            ('--train-images 0', ['--train-images', '0'], ['--train-images', 'at least 1']),
            ('--seed -1', ['--seed', '-1'], ['--seed', '0 or more']),
            ('--train-images 7 for a set of 4', ['--train-images', '7'], ['train 4', '--data-root']),
            ('--config missing', ['--config', str(root / 'missing.py')], ['missing.py', 'does not exist'])):
        cases.append(Case(f'quickstart {name}', quick + options, watch=[coco, str(root / 'work_quick')],
                          expect=words))
    a_file = osp.join(str(root), 'a_file')
    open(a_file, 'w').close()
    cases.append(Case('quickstart --data-root is a file', [
        'tools/quickstart_det.py', '--data-root', a_file, '--work-dir', str(root / 'work_quick')],
        watch=[a_file, str(root / 'work_quick')], expect=['is a file', '--data-root']))

    # benchmark: unknown names listed with the valid ones, --quick no longer overrides, devices
    bench_out = str(root / 'bench')
    for name, options, words in (
            ('--sizes tinyy', ['--sizes', 'tinyy'], ["'tinyy'", 'atto', 'huge']),
            ('--quick --sizes tinyy', ['--quick', '--sizes', 'tinyy'], ["'tinyy'", 'tiny']),
            ('--rows bogus', ['--rows', 'bogus'], ["'bogus'", 'backbone', 'fcmae', 'det', 'seg']),
            ('--rows backbone,bogus', ['--rows', 'backbone,bogus'], ["'bogus'", 'backbone']),
            ('--fcmae-sizes hugee', ['--fcmae-sizes', 'hugee'], ["'hugee'", 'huge']),
            ('--det-size tiny,base', ['--det-size', 'tiny,base'], ['one size']),
            ('--device gpu', ['--device', 'gpu'], ["'gpu'", 'cpu']),
            ('--batch 0', ['--batch', '0'], ['--batch', 'at least 1']),
            ('--iters 0', ['--iters', '0'], ['--iters', 'at least 1']),
            ('--warmup -1', ['--warmup', '-1'], ['--warmup', '0 or more'])):
        cases.append(Case(f'benchmark {name}', ['tools/benchmark.py', *options, '--out', bench_out],
                          watch=[bench_out], expect=words))
    if not torch.cuda.is_available():
        cases.append(Case('benchmark --device cuda without a GPU', [
            'tools/benchmark.py', '--device', 'cuda', '--out', bench_out], watch=[bench_out],
            expect=['no CUDA GPU', '--device cpu']))
    earlier = str(root / 'bench_earlier')
    os.makedirs(earlier)
    for name in ('benchmark.json', 'benchmark.md'):
        with open(osp.join(earlier, name), 'w') as f:
            f.write('earlier results\n')
    cases.append(Case('benchmark --out is a file', [
        'tools/benchmark.py', '--quick', '--device', 'cpu', '--out', a_file], watch=[a_file],
        expect=['--out', 'not a folder']))
    cases.append(Case('benchmark --out holding results', [
        'tools/benchmark.py', '--quick', '--device', 'cpu', '--out', earlier], watch=[earlier],
        expect=['already exists', '--force']))

    # finetune: --batch-per-gpu 0 used to be ignored (taken for "unset")
    cases.append(Case('finetune --batch-per-gpu 0', [
        'tools/finetune_imagenet.py', FINETUNE_TOY, '--batch-per-gpu', '0', '--work-dir',
        str(root / 'work_finetune')], watch=[str(root / 'work_finetune')],
        expect=['batch_size', '0']))

    warm = set()
    for case in cases:   # the worker's first case of each stack pays its imports (torch, mmdet, mmseg)
        stack = SEG_TOY in case.argv
        if stack not in warm:
            case.max_seconds = 60.0
            warm.add(stack)
    workspace = str(root / 'workspace')
    results = run_cases(cases, workspace, real=('quickstart --epochs 0',))
    return cases, results


def seg_options(root):
    return [f'{loader}.dataset.data_root={root}' for loader in LOADERS]


def toy_checkpoint(root):
    """A checkpoint of the toy Mask R-CNN (random weights), for tools/test.py."""
    from reports.quickstart import write_untrained_checkpoint
    return write_untrained_checkpoint(TOY_CONFIG, [], str(root / 'toy_untrained.pth'))


def test_every_bad_input_stops_in_a_few_lines_and_changes_nothing(table):
    cases, results = table
    assert len(cases) >= 25
    failed = report(results)
    assert not failed, failed


def test_the_table_covers_every_tool_and_fault(table):
    cases, _ = table
    tools = {c.argv[0] for c in cases}
    assert {'tools/train.py', 'tools/test.py', 'tools/check_dataset.py', 'tools/quickstart_det.py',
            'tools/benchmark.py', 'tools/finetune_imagenet.py'} <= tools
    names = ' '.join(c.name for c in cases)
    for fault in COCO_FAULTS:
        assert f'train {fault}' in names


# -- unit tests of the content checks ------------------------------------------------------------
@pytest.fixture(scope='session')
def train_coco(base_sets):
    return read_json(osp.join(base_sets[0], TRAIN_JSON))


def toy_classes():
    from mmengine.config import Config
    return list(Config.fromfile(TOY_CONFIG).train_dataloader.dataset.metainfo.classes)


def test_a_good_set_passes(train_coco):
    assert dataset_content.coco_problems(train_coco, toy_classes(), 'set') == ([], [])


@pytest.mark.parametrize('fault', sorted(COCO_FAULTS))
def test_each_coco_fault_is_one_error_naming_it(train_coco, fault):
    change, words = COCO_FAULTS[fault]
    coco = copy.deepcopy(train_coco)
    change(coco)
    errors, _ = dataset_content.coco_problems(coco, toy_classes(), 'set')
    assert len(errors) == 1, errors
    assert '\n' not in errors[0]
    for word in words:
        assert word in errors[0], (word, errors[0])


def mmdet_instances(root, ann_name, classes):
    """How many annotations mmdet's CocoDataset keeps from ``ann_name`` (no filtering of images)."""
    from mmdet.datasets import CocoDataset
    dataset = CocoDataset(data_root=root, ann_file=ann_name, data_prefix=dict(img='train2017/'),
                          metainfo=dict(classes=tuple(classes)), filter_cfg=None, pipeline=[],
                          test_mode=True)
    return sum(len(dataset.get_data_info(i)['instances']) for i in range(len(dataset)))


def write_variant(tmp_path, base, coco):
    path = tmp_path / 'instances.json'
    path.write_text(json.dumps(coco))
    os.symlink(osp.join(base, 'train2017'), tmp_path / 'train2017')
    return str(tmp_path)


def test_the_boxes_said_to_be_dropped_are_those_mmdet_drops(base_sets, train_coco, tmp_path):
    coco = copy.deepcopy(train_coco)
    width = coco['images'][0]['width']
    anns = coco['annotations']
    assert len(anns) >= 4
    anns[0]['bbox'][2] = 0.5                         # under 1 px wide
    anns[1]['area'] = 0.0                            # no area
    anns[2]['bbox'][0] = width + 10.0                # right of its image (if it is image 1's)
    anns[2]['image_id'] = coco['images'][0]['id']
    errors, notes = dataset_content.coco_problems(coco, toy_classes(), 'set')
    assert errors == [] and len(notes) == 1
    assert f'3 of {len(anns)} annotations will be dropped' in notes[0]
    kept = mmdet_instances(write_variant(tmp_path, base_sets[0], coco), 'instances.json', toy_classes())
    assert kept == len(anns) - 3


def test_the_annotations_of_unlisted_classes_are_those_mmdet_leaves_out(base_sets, train_coco, tmp_path):
    coco = copy.deepcopy(train_coco)
    six_categories(coco)
    errors, _ = dataset_content.coco_problems(coco, toy_classes(), 'set')
    assert f'2 of {len(coco["annotations"])} annotations are of categories' in errors[0]
    kept = mmdet_instances(write_variant(tmp_path, base_sets[0], coco), 'instances.json', toy_classes())
    assert kept == len(coco['annotations']) - 2


def test_the_preflight_refuses_a_seg_head_of_another_class_count(base_sets):
    from mmengine.registry import init_default_scope
    from downstream.preflight import PreflightError, check_training
    from engine.launch import load_config
    cfg = load_config(SEG_TOY, dict(**{f'{loader}.dataset.data_root': base_sets[1] for loader in LOADERS},
                                    **{'model.auxiliary_head.num_classes': 100}))
    init_default_scope('mmseg')
    with pytest.raises(PreflightError, match='auxiliary_head.num_classes=100 but train_dataloader'):
        check_training(cfg)
    cfg.model.auxiliary_head.num_classes = 150
    check_training(cfg)


def test_the_preflight_refuses_val_label_maps_of_another_size_only(base_sets, tmp_path):
    """A val label map of the wrong size would stop the first evaluation hours into a run; a
    training one is skipped by design (docs/long_runs.md), so only the first is refused up front."""
    from mmengine.registry import init_default_scope
    from downstream.preflight import PreflightError, check_training
    from engine.launch import load_config

    def training_check(root):
        cfg = load_config(SEG_TOY, {f'{loader}.dataset.data_root': root for loader in LOADERS})
        init_default_scope('mmseg')
        check_training(cfg)

    val_wrong = ade_variant(base_sets[1], str(tmp_path / 'val_wrong'), lambda *_: None)
    make_smaller(osp.join(val_wrong, 'annotations', 'validation'), None)
    with pytest.raises(PreflightError, match=r'1 of 2 label maps in .*validation are not of their '
                                             r"image's size, e\.g\. ADE_val_00000001\.png"):
        training_check(val_wrong)
    training_check(ade_variant(base_sets[1], str(tmp_path / 'train_wrong'), make_smaller))


def test_head_class_counts_leave_out_the_rpn():
    from mmengine.config import Config
    det = dict(dataset_content.head_class_counts(Config.fromfile(TOY_CONFIG).model))
    assert det == {'model.roi_head.bbox_head.num_classes': 4, 'model.roi_head.mask_head.num_classes': 4}
    seg = Config.fromfile(SEG_TOY)
    counts = dict(dataset_content.head_class_counts(seg.model))
    assert counts == {'model.decode_head.num_classes': 150, 'model.auxiliary_head.num_classes': 150}
    assert [n for _, n in dataset_content.check_seg_map_counts(seg.train_dataloader.dataset.pipeline)] == [150]
    assert dataset_content.class_count_problems(seg.model, seg.train_dataloader.dataset.pipeline,
                                                ['c'] * 150, 'train_dataloader') == []
    problems = dataset_content.class_count_problems(seg.model, seg.train_dataloader.dataset.pipeline,
                                                    ['c'] * 19, 'train_dataloader')
    assert len(problems) == 1 and 'CheckSegMap num_classes=150' in problems[0]


@pytest.mark.parametrize('values, reduce_zero_label', [
    ([0, 1, 150], True), ([151], True), ([255], True), ([200, 3], True),
    ([0, 149], False), ([150], False), ([255, 0], False)])
def test_label_values_pass_exactly_when_check_seg_map_passes(tmp_path, values, reduce_zero_label):
    """Our verdict on a stored label map = CheckSegMap's on what mmseg's LoadAnnotations makes of it."""
    from mmseg.datasets.transforms import LoadAnnotations
    from downstream.seg_data_checks import CheckSegMap
    path = str(tmp_path / 'label.png')
    labels = np.zeros((4, 6), np.uint8)
    labels.flat[:len(values)] = values
    Image.fromarray(labels).save(path)
    ours = dataset_content.label_map_problems(
        dict(seg_map_path=path, label_range=(150, reduce_zero_label, 255)))
    results = LoadAnnotations(reduce_zero_label=reduce_zero_label)(
        dict(seg_map_path=path, reduce_zero_label=reduce_zero_label, seg_fields=[]))
    results['ori_shape'] = labels.shape
    try:
        CheckSegMap(num_classes=150)(results)
        theirs = []
    except ValueError as err:
        theirs = [str(err)]
    assert bool(ours) == bool(theirs), (ours, theirs)
