"""Bad input to tools/train.py and tools/test.py: one clear line, and the work dir left untouched."""
import json
import logging
import os
import os.path as osp
import sys

import pytest
import torch
from mmengine.logging import MMLogger

import backbones  # noqa: F401
from backbones import ConvNeXtV2
from tools import test as test_tool
from tools import train as train_tool
from downstream.synthetic_coco import make_synthetic_coco
from reports.quickstart import TOY_CONFIG, data_options


@pytest.fixture(autouse=True)
def log_to_this_tests_stdout():
    """mmengine's loggers outlive a test; point their console handlers at this test's stdout."""
    for logger in MMLogger._instance_dict.values():
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler:
                handler.stream = sys.stdout  # setStream would flush the closed one


@pytest.fixture
def coco(tmp_path):
    root = str(tmp_path / 'coco')
    make_synthetic_coco(root, num_train=4, num_val=2, image_size=96)
    return root


def snapshot(directory):
    """{relative path: bytes} of everything under ``directory`` (None when it does not exist)."""
    if not osp.isdir(directory):
        return None
    files = {}
    for base, _, names in os.walk(directory):
        for name in names:
            path = osp.join(base, name)
            with open(path, 'rb') as f:
                files[osp.relpath(path, directory)] = f.read()
    return files


def used_work_dir(tmp_path):
    """A work dir from an earlier run: its files must survive a failing run byte for byte."""
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_3.pth'))
    (work_dir / 'epoch_3.pth').write_bytes(b'earlier checkpoint')
    return str(work_dir)


def run_failing(main, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('error: '), lines
    return lines[0]


def train_fails(coco, work_dir, capsys, *options):
    before = snapshot(work_dir)
    argv = [TOY_CONFIG, '--work-dir', work_dir, '--cfg-options', *data_options(coco), *options]
    message = run_failing(train_tool.main, argv, capsys)
    assert snapshot(work_dir) == before   # nothing created, nothing changed
    return message


def rewrite_annotations(coco, split, change):
    path = osp.join(coco, 'annotations', f'instances_{split}.json')
    with open(path) as f:
        data = json.load(f)
    change(data)
    with open(path, 'w') as f:
        json.dump(data, f)


def test_missing_annotation_file(coco, tmp_path, capsys):
    os.remove(osp.join(coco, 'annotations', 'instances_train2017.json'))
    message = train_fails(coco, str(tmp_path / 'fresh'), capsys)
    assert 'instances_train2017.json does not exist' in message
    assert 'make_synthetic.py coco' in message


def test_image_listed_but_absent(coco, tmp_path, capsys):
    os.remove(osp.join(coco, 'train2017', '000000000002.jpg'))
    message = train_fails(coco, used_work_dir(tmp_path), capsys)
    assert '1 of the 4 images' in message and '000000000002.jpg' in message


def test_empty_annotation_set(coco, tmp_path, capsys):
    rewrite_annotations(coco, 'train2017', lambda d: d.update(annotations=[]))
    message = train_fails(coco, used_work_dir(tmp_path), capsys)
    assert 'no annotations' in message and 'instances_train2017.json' in message


def test_empty_validation_annotations(coco, tmp_path, capsys):
    rewrite_annotations(coco, 'val2017', lambda d: d.update(annotations=[]))
    message = train_fails(coco, str(tmp_path / 'fresh'), capsys)
    assert 'val_dataloader' in message and 'no annotations' in message


def test_classes_missing_from_the_annotation_file(coco, tmp_path, capsys):
    rewrite_annotations(coco, 'train2017', lambda d: d['categories'][0].update(name='disc'))
    message = train_fails(coco, str(tmp_path / 'fresh'), capsys)
    assert 'classes [circle]' in message and 'categories' in message


def test_missing_initial_checkpoint_fails_before_training(coco, tmp_path, capsys):
    path = str(tmp_path / 'checkpoints' / 'convnextv2_atto_1k_224_backbone.pth')
    message = train_fails(coco, str(tmp_path / 'fresh'), capsys,
                          'model.backbone.init_cfg.type=Pretrained',
                          f'model.backbone.init_cfg.checkpoint={path}')
    assert f'initial checkpoint {path} does not exist' in message
    assert '--cfg-options model.backbone.init_cfg.checkpoint=' in message


def test_initial_checkpoint_of_the_wrong_size(coco, tmp_path, capsys):
    path = str(tmp_path / 'femto.pth')
    torch.save({'model': ConvNeXtV2('femto').state_dict()}, path)
    message = train_fails(coco, used_work_dir(tmp_path), capsys,
                          'model.backbone.init_cfg.type=Pretrained',
                          f'model.backbone.init_cfg.checkpoint={path}')
    assert 'ConvNeXt V2-femto but the model is ConvNeXt V2-atto' in message


def test_correct_initial_checkpoint_passes_preflight(coco, tmp_path):
    from mmengine.config import Config
    from downstream import preflight
    path = str(tmp_path / 'atto.pth')
    torch.save({'model': ConvNeXtV2('atto').state_dict()}, path)
    cfg = Config.fromfile(TOY_CONFIG)
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=path)
    preflight.check_init_checkpoints(cfg.model)


def test_test_tool_rejects_a_checkpoint_of_another_model(coco, tmp_path, capsys):
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(TOY_CONFIG)
    init_default_scope('mmdet')
    cfg.model.backbone.arch = 'femto'
    cfg.model.neck.in_channels = [48, 96, 192, 384]
    path = str(tmp_path / 'femto_detector.pth')
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()}, path)
    work_dir = used_work_dir(tmp_path)
    before = snapshot(work_dir)
    message = run_failing(test_tool.main, [TOY_CONFIG, path, '--work-dir', work_dir,
                                           '--cfg-options', *data_options(coco)], capsys)
    assert 'does not fit the model of this config: shape mismatches' in message
    assert 'backbone.downsample_layers.0.0.weight' in message
    assert snapshot(work_dir) == before


def test_test_tool_with_missing_checkpoint(coco, tmp_path, capsys):
    message = run_failing(test_tool.main, [TOY_CONFIG, str(tmp_path / 'none.pth'), '--work-dir',
                                           str(tmp_path / 'w'), '--cfg-options',
                                           *data_options(coco)], capsys)
    assert 'none.pth does not exist' in message
    assert not osp.exists(tmp_path / 'w')
