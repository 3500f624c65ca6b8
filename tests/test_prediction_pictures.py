"""Pictures of predictions: tools/demo_seg.py (legend of the classes present only) and
tools/test.py --show-dir with mmseg's and mmdet's own visualisation hooks."""
import glob
import logging
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

import backbones  # noqa: F401
from downstream.synthetic_ade20k import FLOOR, WALL, make_synthetic_ade20k
from downstream.synthetic_coco import make_synthetic_coco

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SEG_TOY = osp.join(REPO, 'seg_configs', 'upernet_convnextv2-atto_toy-synthetic-ade20k.py')
DET_TOY = osp.join(REPO, 'det_configs', 'mask-rcnn_convnextv2-atto_fpn_synthetic-coco.py')
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# the hand-set classifier can only say wall, floor or bed (0-based indices after reduce_zero_label)
ALLOWED = (WALL - 1, FLOOR - 1, 8 - 1)


@pytest.fixture(autouse=True)
def log_to_this_tests_stdout():
    """mmengine's loggers outlive a test; point their console handlers at this test's stdout."""
    for logger in MMLogger._instance_dict.values():
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler:
                handler.stream = sys.stdout


@pytest.fixture(scope='module')
def ade(tmp_path_factory):
    return make_synthetic_ade20k(str(tmp_path_factory.mktemp('ade')), num_train=2, num_val=2)


@pytest.fixture(scope='module')
def seg_setup(ade, tmp_path_factory):
    """(config path, checkpoint) of the toy UperNet with a hand-set classifier: every class but
    three has a bias of -100, so the prediction can only hold those three."""
    from mmseg.datasets import ADE20KDataset
    from mmseg.registry import MODELS
    folder = tmp_path_factory.mktemp('seg')
    cfg = Config.fromfile(SEG_TOY)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = ade
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    config = str(folder / 'toy.py')
    cfg.dump(config)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        for head in (model.decode_head, model.auxiliary_head):
            head.conv_seg.bias.fill_(-100.0)
            head.conv_seg.weight.zero_()
            for index in ALLOWED:
                head.conv_seg.bias[index] = 0.0
                head.conv_seg.weight[index].normal_(0, 1)
    checkpoint = str(folder / 'toy.pth')
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': dict(ADE20KDataset.METAINFO)}}, checkpoint)
    return config, checkpoint


def test_seg_demo_legend_names_exactly_the_classes_present(ade, seg_setup, tmp_path, capsys):
    from mmseg.apis import inference_model, init_model
    from mmseg.datasets import ADE20KDataset
    from tools import demo_seg
    config, checkpoint = seg_setup
    image = sorted(glob.glob(osp.join(ade, 'images', 'validation', '*.jpg')))[0]
    out = tmp_path / 'demo.png'
    names = demo_seg.main([image, config, checkpoint, '--out', str(out)])

    # the prediction by mmseg's own API, independently of the demo
    cfg = Config.fromfile(config)
    cfg.test_pipeline = [t for t in cfg.test_pipeline if t.type == 'LoadImageFromFile' or
                         t.type == 'Resize' or t.type == 'PackSegInputs']
    prediction = inference_model(init_model(cfg, checkpoint, device='cpu'), image).pred_sem_seg.data.numpy()
    classes = ADE20KDataset.METAINFO['classes']
    present = {classes[i].strip() for i in np.unique(prediction)}   # ADE20K has 'bed '
    assert present <= {classes[i].strip() for i in ALLOWED}
    assert len(present) >= 2                    # the picture has something to tell apart
    assert sorted(names) == sorted(present)     # only and all the classes present
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 2000
    assert f'{len(names)} classes present: {", ".join(names)}' in capsys.readouterr().out


def test_seg_demo_refuses_a_checkpoint_of_another_model(ade, seg_setup, tmp_path, capsys):
    from tools import demo_seg
    config, _ = seg_setup
    wrong = tmp_path / 'wrong.pth'
    torch.save({'state_dict': {'backbone.stem.weight': torch.zeros(1)}}, str(wrong))
    image = sorted(glob.glob(osp.join(ade, 'images', 'validation', '*.jpg')))[0]
    with pytest.raises(SystemExit) as exit_info:
        demo_seg.main([image, config, str(wrong), '--out', str(tmp_path / 'x.png')])
    assert exit_info.value.code != 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and 'does not fit the model' in lines[0], lines
    assert not (tmp_path / 'x.png').exists()


def test_test_show_dir_draws_seg_predictions_with_mmsegs_hook(seg_setup, tmp_path, capsys):
    from tools import test as test_tool
    config, checkpoint = seg_setup
    show = tmp_path / 'show'
    test_tool.main([config, checkpoint, '--work-dir', str(tmp_path / 'work'),
                    '--show-dir', str(show)])
    drawn = sorted(glob.glob(str(show / 'vis_data' / 'vis_image' / '*.png')))
    assert len(drawn) == 2, drawn
    for path in drawn:
        assert open(path, 'rb').read().startswith(PNG_SIGNATURE)
    before = {path: open(path, 'rb').read() for path in drawn}
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:   # the drawings are replaced only with --force
        test_tool.main([config, checkpoint, '--work-dir', str(tmp_path / 'work2'),
                        '--show-dir', str(show)])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert stop.value.code != 0 and len(lines) == 1, lines
    assert '--show-dir' in lines[0] and '--force' in lines[0], lines
    assert {path: open(path, 'rb').read() for path in drawn} == before
    assert not (tmp_path / 'work2').exists()


def test_test_show_dir_draws_det_predictions_with_mmdets_hook(tmp_path):
    from mmdet.registry import MODELS
    from tools import test as test_tool
    coco = str(tmp_path / 'coco')
    make_synthetic_coco(coco, num_train=1, num_val=2, image_size=96)
    cfg = Config.fromfile(DET_TOY)
    ann = osp.join(coco, 'annotations', 'instances_val2017.json')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = coco + '/'
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    cfg.val_evaluator.ann_file = cfg.test_evaluator.ann_file = ann
    config = str(tmp_path / 'det.py')
    cfg.dump(config)
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    checkpoint = str(tmp_path / 'det.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    show = tmp_path / 'show'
    test_tool.main([config, checkpoint, '--work-dir', str(tmp_path / 'work'),
                    '--show-dir', str(show)])
    drawn = sorted(glob.glob(str(show / '*.jpg')))
    assert [osp.basename(p) for p in drawn] == ['000000000001.jpg', '000000000002.jpg'], drawn
