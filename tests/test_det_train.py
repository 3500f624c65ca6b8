"""Short train -> checkpoint -> COCO evaluation of the toy config on CPU, in 1 and 2 processes.

The same tools/train.py and tools/test.py commands as for real COCO; only the data paths differ.
"""
import json
import os
import os.path as osp
import re
import shutil
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from tools.make_synthetic_coco import make_synthetic_coco
from tools.run_config import REPO_ROOT
from tools.run_default import TOY_CONFIG, data_options

TRAIN_IMAGES = 16
# pycocotools' summary line, e.g. " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | ..."
AP_LINE = re.compile(r'Average Precision\s+\(AP\) @\[ IoU=0\.50:0\.95 \| area=\s*all \| '
                     r'maxDets=100 \] = (-?[0-9.]+)')


@pytest.fixture(scope='module')
def coco(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic_coco'))
    make_synthetic_coco(root, num_train=TRAIN_IMAGES, num_val=4, image_size=128)
    return root


def run_tool(args, torchrun=0):
    env = dict(os.environ, OMP_NUM_THREADS='1' if torchrun else '2')
    launcher = []
    if torchrun:
        launcher = ['-m', 'torch.distributed.run', f'--nproc_per_node={torchrun}',
                    f'--master_port={free_port()}']
    done = subprocess.run([sys.executable, *launcher, *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train(coco, work_dir, *options, torchrun=0):
    args = [osp.join('tools', 'train.py'), TOY_CONFIG, '--work-dir', str(work_dir),
            '--cfg-options', *data_options(coco), 'train_cfg.max_epochs=1', 'randomness.seed=0',
            'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None', *options]
    if torchrun:
        args += ['--launcher', 'pytorch']
    return run_tool(args, torchrun)


def load(path):
    return torch.load(path, map_location='cpu', weights_only=False)


@pytest.fixture(scope='module')
def single_run(coco, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('single')
    log = train(coco, work_dir)
    return work_dir, log


def test_train_writes_a_checkpoint(single_run):
    work_dir, log = single_run
    assert 'no GPU: training in fp32' in log
    assert 'total batch 4 = 1 process(es) x 4' in log
    checkpoint = load(osp.join(work_dir, 'epoch_1.pth'))
    assert checkpoint['meta']['epoch'] == 1
    assert checkpoint['meta']['dataset_meta']['classes'] == (
        'circle', 'square', 'triangle', 'ring')
    assert any(k.startswith('backbone.stages.2.5.') for k in checkpoint['state_dict'])


def test_checkpoint_evaluates_with_the_coco_evaluator(coco, single_run, tmp_path):
    work_dir, _ = single_run
    metrics_file = tmp_path / 'metrics.json'
    log = run_tool([osp.join('tools', 'test.py'), TOY_CONFIG, osp.join(work_dir, 'epoch_1.pth'),
                    '--work-dir', str(tmp_path / 'test'), '--metrics-out', str(metrics_file),
                    '--cfg-options', *data_options(coco)])
    evaluated = [float(v) for v in AP_LINE.findall(log)]
    assert len(evaluated) == 2, log[-3000:]                 # one box, one mask summary
    assert 'Evaluating bbox...' in log and 'Evaluating segm...' in log
    metrics = json.loads(metrics_file.read_text())
    assert evaluated == pytest.approx([metrics['coco/bbox_mAP'], metrics['coco/segm_mAP']], abs=1e-3)
    assert all(0.0 <= v <= 1.0 for v in evaluated)


def test_two_process_torchrun_training_matches_single_process(coco, single_run, tmp_path):
    """DDP through mmengine with the gloo backend: same checkpoint layout, lr scaled to 2 x 1."""
    log = train(coco, tmp_path, 'train_dataloader.batch_size=1', torchrun=2)
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert 'total batch 2 = 2 process(es) x 1' in log and 'scaled by 0.5' in log
    dist = load(osp.join(tmp_path, 'epoch_1.pth'))
    single = load(osp.join(single_run[0], 'epoch_1.pth'))
    assert sorted(dist) == sorted(single)
    assert sorted(dist['state_dict']) == sorted(single['state_dict'])   # no 'module.' prefix
    assert all(dist['state_dict'][k].shape == v.shape for k, v in single['state_dict'].items())
    assert dist['meta']['epoch'] == 1
    config = Config.fromfile(osp.join(REPO_ROOT, TOY_CONFIG))
    config_lr, config_batch = config.optim_wrapper.optimizer.lr, config.auto_scale_lr.base_batch_size
    top = [g for g in dist['optimizer']['param_groups'] if g['lr_scale'] == 1.0]
    assert top and top[0]['initial_lr'] == pytest.approx(config_lr * 2 / config_batch)


def test_demo_draws_boxes_and_masks(coco, single_run, tmp_path):
    import mmcv
    from tools import demo_det
    image = osp.join(coco, 'val2017', '000000000001.jpg')
    out = str(tmp_path / 'demo.jpg')
    demo_det.main([image, TOY_CONFIG, osp.join(single_run[0], 'epoch_1.pth'), '--out', out,
                   '--score-thr', '0'])
    drawn, original = mmcv.imread(out), mmcv.imread(image)
    assert drawn.shape == original.shape
    assert (drawn.astype(int) - original).any()     # something was drawn


@pytest.mark.slow
def test_default_job_learns_a_small_set(tmp_path, capsys):
    """tools/run_default.py, short: the README's main job with the AP check it makes.

    The full default trains 8 epochs on 200 images and is judged on 50 held-out ones; here 100
    iterations on 16 images judged on the same 16 (val = train), which the same code path and the
    same margins must pass: box and mask AP +0.01 and AP50 +0.05 over the untrained model.
    """
    from tools import run_default
    root, work_dir = tmp_path / 'coco', tmp_path / 'work'
    make_synthetic_coco(str(root), num_train=16, num_val=1, image_size=128)
    shutil.rmtree(root / 'val2017')
    shutil.copytree(root / 'train2017', root / 'val2017')
    shutil.copy(root / 'annotations' / 'instances_train2017.json',
                root / 'annotations' / 'instances_val2017.json')
    with pytest.raises(SystemExit) as exit_info:
        run_default.main(['--data-root', str(root), '--work-dir', str(work_dir), '--epochs', '30'])
    result = json.loads((work_dir / 'default_result.json').read_text())
    printed = capsys.readouterr().out
    assert exit_info.value.code == 0 and result['ok'] is True, printed[-2000:]
    for metric in ('bbox_mAP', 'segm_mAP'):
        assert result['trained'][metric] >= result['untrained'][metric] + 0.01
    assert 'clearly above' in printed and 'NOT' not in printed
