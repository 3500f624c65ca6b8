"""Finetune data: image folders and their errors, the paper's centre-crop evaluation, timm's
RandAugment(9, 0.5) / random erasing / mixup-cutmix as batch augments, top-k accuracy."""
import numpy as np
import pytest
import torch
from PIL import Image

from finetune.data import (ClassifierDataPreprocessor, ImageFolderClassification,
                                 eval_transform, posterize_any_bits, train_transform)
from finetune.metric import TopKAccuracy
from finetune.synthetic import CLASSES, make_dataset


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('imagenet'))
    make_dataset(root, num_classes=4, train_per_class=3, val_per_class=2, size=32)
    return root


def test_synthetic_folder_and_labels(folder):
    train = ImageFolderClassification(folder, 'train', img_size=32, num_classes=4)
    val = ImageFolderClassification(folder, 'val', img_size=32, classes_from='train')
    assert len(train) == 12 and len(val) == 8
    assert train.classes == sorted(CLASSES[:4]) == val.classes
    sample = val[0]
    assert sample['inputs'].dtype == torch.uint8 and sample['inputs'].shape == (3, 32, 32)
    assert sample['data_samples'] == val.classes.index(val.folder.samples[0][0].split('/')[-2])


def test_val_takes_the_class_indices_of_train(tmp_path):
    make_dataset(str(tmp_path), num_classes=3, train_per_class=1, val_per_class=1, size=16)
    first = sorted(CLASSES[:3])[0]
    for path in (tmp_path / 'val' / first).iterdir():
        path.unlink()
    (tmp_path / 'val' / first).rmdir()
    val = ImageFolderClassification(str(tmp_path), 'val', img_size=16, classes_from='train')
    assert sorted(label for _, label in val.folder.samples) == [1, 2]   # not re-numbered 0, 1


@pytest.mark.parametrize('problem, message', [
    ('missing', 'image folder .*/train does not exist'),
    ('no_classes', 'has no class sub-folders'),
    ('empty_class', 'class folder .*/train/zebra has no images'),
    ('extra_val_class', r"has classes \['zebra'\] that .*/train does not have"),
    ('class_count', 'has 2 class folders but the config says num_classes=1000'),
])
def test_bad_folders_fail_in_one_line(tmp_path, problem, message):
    root = tmp_path / 'data'
    if problem != 'missing':
        make_dataset(str(root), num_classes=2, train_per_class=1, val_per_class=1, size=16)
    if problem == 'no_classes':
        for split in ('train', 'val'):
            for sub in (root / split).iterdir():
                for f in sub.iterdir():
                    f.unlink()
                sub.rmdir()
    split, kwargs = 'train', {}
    if problem == 'empty_class':
        (root / 'train' / 'zebra').mkdir()
    if problem == 'extra_val_class':
        (root / 'val' / 'zebra').mkdir()
        Image.new('RGB', (8, 8)).save(root / 'val' / 'zebra' / 'a.png')
        split, kwargs = 'val', dict(classes_from='train')
    if problem == 'class_count':
        kwargs = dict(num_classes=1000)
    with pytest.raises((FileNotFoundError, ValueError), match=message) as err:
        ImageFolderClassification(str(root), split, img_size=16, **kwargs)
    assert '\n' not in str(err.value)


def test_evaluation_resizes_to_size_over_0875_and_crops_the_centre():
    """224 / 0.875 = 256: shorter side to 256, centre 224x224 (the paper's protocol)."""
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    out = eval_transform(224, 0.875)(image)
    resized = image.resize((341, 256), Image.BICUBIC)   # 400 * 256 / 300 = 341.3
    left, top = round((341 - 224) / 2), round((256 - 224) / 2)
    expected = np.asarray(resized.crop((left, top, left + 224, top + 224)))
    assert out.dtype == torch.uint8 and out.shape == (3, 224, 224)
    assert np.abs(out.permute(1, 2, 0).numpy().astype(int) - expected.astype(int)).max() <= 1


def test_training_transform_is_timms_randaugment_m9_mstd05():
    transform = train_transform(64)
    rand_augment = next(t for t in transform.transforms if hasattr(t, 'ops'))
    assert len(rand_augment.ops) == 15 and rand_augment.num_layers == 2
    assert {op.magnitude for op in rand_augment.ops} == {9}
    assert {op.magnitude_std for op in rand_augment.ops} == {0.5}
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 96, 3), dtype=np.uint8))
    out = transform(image)
    assert out.dtype == torch.uint8 and out.shape == (3, 64, 64)


def test_posterize_at_full_magnitude_does_not_crash_on_new_pillow():
    """RandAugment's PosterizeIncreasing asks for 0 bits at magnitude 10 (m9 + std 0.5 reaches it);
    Pillow >= 11 raises on that. We keep the old result: a black image."""
    image = Image.new('RGB', (8, 8), (200, 100, 50))
    assert np.asarray(posterize_any_bits(image, 0)).max() == 0
    assert np.asarray(posterize_any_bits(image, 1)).max() == 128
    transform = train_transform(8, 'rand-m10-mstd0-inc1')
    posterize = next(op for t in transform.transforms for op in getattr(t, 'ops', [])
                     if op.name == 'PosterizeIncreasing')
    posterize.prob = 1.0
    assert np.asarray(posterize(image)).max() == 0


def uint8_batch(n=4, size=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return dict(inputs=torch.randint(0, 256, (n, 3, size, size), generator=gen, dtype=torch.uint8),
                data_samples=torch.arange(n) % 3)


def test_preprocessor_normalises_and_leaves_eval_batches_alone():
    batch = uint8_batch()
    pre = ClassifierDataPreprocessor(num_classes=3, mixup=0.8, cutmix=1.0, random_erasing=1.0)
    out = pre(batch, training=False)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    assert torch.allclose(out['inputs'], (batch['inputs'].float() - mean) / std)
    assert torch.equal(out['data_samples'], batch['data_samples'])


def test_training_batch_gets_erasing_then_soft_mixup_targets():
    torch.manual_seed(0)
    batch = uint8_batch()
    plain = ClassifierDataPreprocessor(num_classes=3)(batch, training=True)
    erased = ClassifierDataPreprocessor(num_classes=3, random_erasing=1.0)(batch, training=True)
    changed = (erased['inputs'] != plain['inputs']).flatten(1).any(1)
    assert changed.all()                       # probability 1: every image has a box
    assert torch.equal(erased['data_samples'], batch['data_samples'])

    mixed = ClassifierDataPreprocessor(num_classes=3, mixup=0.8, cutmix=1.0,
                                       label_smoothing=0.1)(batch, training=True)
    targets = mixed['data_samples']
    assert targets.shape == (4, 3) and torch.allclose(targets.sum(1), torch.ones(4))
    assert targets.min() >= 0.1 / 3 - 1e-6      # smoothing folded in


def test_mixup_refuses_an_odd_batch():
    pre = ClassifierDataPreprocessor(num_classes=3, mixup=0.8)
    with pytest.raises(ValueError, match='even batch per GPU, got 3'):
        pre(uint8_batch(n=3), training=True)


def test_topk_accuracy():
    metric = TopKAccuracy(topk=(1, 5))
    scores = torch.tensor([[0.1, 0.9, 0.0, 0.0, 0.0, 0.0],
                           [0.9, 0.0, 0.1, 0.0, 0.0, 0.0],
                           [-1.0, 0.5, 0.4, 0.3, 0.2, 0.1]])
    metric.process({}, [dict(scores=s, gt_label=label) for s, label in zip(scores, [1, 2, 0])])
    expected = {'top1': 100 / 3, 'top5': 200 / 3}
    assert metric.compute_metrics(metric.results) == pytest.approx(expected)
    small = TopKAccuracy(topk=(1, 5))
    small.process({}, [dict(scores=torch.tensor([0.2, 0.8]), gt_label=0)])
    assert small.compute_metrics(small.results) == {'top1': 0.0, 'top5': 100.0}
