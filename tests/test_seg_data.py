"""Synthetic ADE20K set and the one-line errors on broken ADE20K-layout data."""
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

from downstream.synthetic_ade20k import SHAPES, make_synthetic_ade20k

SEG_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'seg_configs')
TOY_CONFIG = osp.join(SEG_DIR, 'upernet_convnextv2-atto_toy-synthetic-ade20k.py')
TRAIN_LABELS = osp.join('annotations', 'training')


@pytest.fixture
def root(tmp_path):
    return make_synthetic_ade20k(str(tmp_path), num_train=3, num_val=1)


def dataset(root, split='train'):
    from mmseg.registry import DATASETS
    cfg = Config.fromfile(TOY_CONFIG)
    init_default_scope('mmseg')
    dataset_cfg = cfg[f'{split}_dataloader'].dataset
    dataset_cfg.data_root = root
    return DATASETS.build(dataset_cfg)


def test_generator_writes_the_ade20k_layout(root):
    assert osp.basename(root) == 'ADEChallengeData2016'
    for split, prefix, count in (('training', 'ADE_train', 3), ('validation', 'ADE_val', 1)):
        images = sorted(os.listdir(osp.join(root, 'images', split)))
        labels = sorted(os.listdir(osp.join(root, 'annotations', split)))
        assert images == [f'{prefix}_{i:08d}.jpg' for i in range(1, count + 1)]
        assert labels == [name[:-4] + '.png' for name in images]
        for image_name, label_name in zip(images, labels):
            image = Image.open(osp.join(root, 'images', split, image_name))
            label = Image.open(osp.join(root, 'annotations', split, label_name))
            assert image.mode == 'RGB' and label.mode == 'L' and image.size == label.size
            values = set(np.unique(np.asarray(label)).tolist())
            assert values <= {0, 1, 4, *SHAPES} and 0 in values  # 0 = unlabelled rim, ignored


def test_labels_are_reduced_by_one_with_zero_ignored(root):
    data = dataset(root)
    results = data.get_data_info(0)
    for transform in data.pipeline.transforms[:3]:  # load image, load annotations, CheckSegMap
        results = transform(results)
    raw = np.asarray(Image.open(results['seg_map_path']))
    reduced = results['gt_seg_map']
    assert (reduced[raw == 0] == 255).all() and (reduced[raw > 0] == raw[raw > 0] - 1).all()


def test_missing_folder_names_it(root):
    os.rename(osp.join(root, TRAIN_LABELS), osp.join(root, 'annotations', 'train'))
    with pytest.raises(FileNotFoundError, match=f'annotation folder {osp.join(root, TRAIN_LABELS)} '
                                                'does not exist'):
        dataset(root)


def test_missing_label_map_names_it(root):
    missing = osp.join(root, TRAIN_LABELS, 'ADE_train_00000002.png')
    os.remove(missing)
    with pytest.raises(FileNotFoundError, match=f'1 of 3 images have no label map, first {missing}'):
        dataset(root)


def test_label_map_of_another_size_names_it(root, tmp_path, monkeypatch):
    """Training skips the sample (another one is drawn) and reports the file."""
    from engine import skipped_samples
    monkeypatch.setenv(skipped_samples.DIR_VARIABLE, str(tmp_path / 'records'))
    path = osp.join(root, TRAIN_LABELS, 'ADE_train_00000001.png')
    label = Image.open(path)
    label.resize((label.width + 3, label.height), Image.NEAREST).save(path)
    sample = dataset(root)[0]
    assert 'ADE_train_00000001' not in sample['data_samples'].img_path
    [(reported, reason)] = set(skipped_samples.read_records(str(tmp_path / 'records')))
    assert reported == path
    assert reason.startswith(f'label map is {label.width + 3}x{label.height} but its image ')


def test_label_value_out_of_range_names_it(root):
    path = osp.join(root, TRAIN_LABELS, 'ADE_train_00000001.png')
    label = np.asarray(Image.open(path)).copy()
    label[:2, :2] = 200
    Image.fromarray(label).save(path)
    with pytest.raises(ValueError, match=rf'label map {path} holds values \[200\] outside 0..150'):
        dataset(root)[0]


def test_colour_label_map_names_it(root):
    path = osp.join(root, TRAIN_LABELS, 'ADE_train_00000001.png')
    Image.open(path).convert('RGB').save(path)
    with pytest.raises(ValueError, match=f'label map {path} has shape .* single-channel'):
        dataset(root)[0]


def test_checks_also_guard_the_test_pipeline(root):
    path = osp.join(root, 'annotations', 'validation', 'ADE_val_00000001.png')
    label = Image.open(path)
    label.resize((label.width, label.height + 5), Image.NEAREST).save(path)
    with pytest.raises(ValueError, match=f'label map {path} is'):
        dataset(root, 'test')[0]
