"""Train -> checkpoint -> single-scale and multi-scale+flip test of the toy seg config, on CPU."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from downstream.synthetic_ade20k import make_synthetic_ade20k

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOY_CONFIG = osp.join(REPO, 'seg_configs', 'upernet_convnextv2-atto_toy-synthetic-ade20k.py')
ITERS = 50


def toy_config(root, work_dir, max_iters=ITERS):
    cfg = Config.fromfile(TOY_CONFIG)
    init_default_scope('mmseg')
    cfg.work_dir = str(work_dir)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = root
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = max_iters
    cfg.param_scheduler[0].end = cfg.param_scheduler[1].begin = 10
    cfg.param_scheduler[1].end = max_iters
    cfg.default_hooks.checkpoint.interval = max_iters
    cfg.randomness = dict(seed=0)
    return cfg


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    return make_synthetic_ade20k(str(tmp_path_factory.mktemp('ade')), num_train=32, num_val=4)


@pytest.fixture
def one_thread():
    """On a shared 2-core machine two OpenMP threads per process run several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow  # ~130 s on a busy 2-core machine: 50 training iterations + 3 evaluations
def test_train_checkpoint_then_single_and_multi_scale_test(root, tmp_path, one_thread, capsys):
    from tools import test as test_tool
    untrained = Runner.from_cfg(toy_config(root, tmp_path / 'untrained'))
    untrained.model.init_weights()
    untrained_miou = untrained.test()['mIoU']

    Runner.from_cfg(toy_config(root, tmp_path / 'train')).train()
    checkpoint = str(tmp_path / 'train' / f'iter_{ITERS}.pth')
    assert osp.isfile(checkpoint)

    toy_cfg = toy_config(root, tmp_path / 'test')
    toy_cfg.dump(str(tmp_path / 'toy.py'))
    single = test_tool.main([str(tmp_path / 'toy.py'), checkpoint, '--work-dir', str(tmp_path / 'ss')])
    multi = test_tool.main([str(tmp_path / 'toy.py'), checkpoint, '--tta',
                            '--work-dir', str(tmp_path / 'ms')])
    with capsys.disabled():
        print(f'\nseg toy mIoU: untrained {untrained_miou:.2f}, after {ITERS} iterations '
              f'single-scale {single["mIoU"]:.2f}, multi-scale+flip {multi["mIoU"]:.2f}')
    assert single['mIoU'] > untrained_miou + 15
    assert multi['mIoU'] > untrained_miou + 15


def test_missing_initial_checkpoint_fails_before_training(root, tmp_path, capsys):
    from tools import train as train_tool
    missing = str(tmp_path / 'convnextv2_atto_1k_224_backbone.pth')
    cfg = toy_config(root, tmp_path / 'work')
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=missing)
    cfg.dump(str(tmp_path / 'toy.py'))
    with pytest.raises(SystemExit) as exit_info:
        train_tool.main([str(tmp_path / 'toy.py')])
    assert exit_info.value.code != 0
    message = capsys.readouterr().err
    assert f'initial checkpoint {missing} does not exist' in message and 'finetune' in message
    assert not (tmp_path / 'work').exists()  # nothing was started


def test_missing_data_folder_fails_before_training(tmp_path, capsys):
    from tools import train as train_tool
    cfg = toy_config(str(tmp_path / 'nowhere' / 'ADEChallengeData2016'), tmp_path / 'work')
    cfg.dump(str(tmp_path / 'toy.py'))
    with pytest.raises(SystemExit):
        train_tool.main([str(tmp_path / 'toy.py')])
    message = capsys.readouterr().err
    assert str(tmp_path / 'nowhere') in message and 'make_synthetic.py ade20k' in message
