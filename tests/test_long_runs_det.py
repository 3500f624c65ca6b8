"""Long det runs survive kills, preemption and bad files, on the CPU toy config.

3 training images, batch 1: 3 iterations per epoch, 6 in all, a checkpoint every 2 iterations.
The limit on skipped files and the NaN stop are checked on FCMAE in test_long_runs.py (same hooks).
"""
import os
import os.path as osp

import pytest

from downstream.synthetic_coco import make_synthetic_coco
from tests.long_run_helpers import (assert_same_weights, last_checkpoint, load, logged_scalars,
                                    run_tool)
from reports.quickstart import TOY_CONFIG, data_options

ITERS = 6


@pytest.fixture(scope='module')
def coco(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('coco'))
    make_synthetic_coco(root, num_train=3, num_val=1, image_size=128)
    return root


def train(coco, work_dir, *options, fault='', resume=False):
    args = [TOY_CONFIG, '--work-dir', str(work_dir), *(['--resume'] if resume else []),
            '--cfg-options', *data_options(coco), 'train_cfg.max_epochs=2', 'randomness.seed=0',
            'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
            'train_dataloader.batch_size=1', 'default_hooks.checkpoint.by_epoch=False',
            'default_hooks.checkpoint.interval=2', 'default_hooks.checkpoint.max_keep_ckpts=4',
            'default_hooks.logger.interval=1', 'log_processor.window_size=1', *options]
    return run_tool('train.py', args, fault=fault)


@pytest.mark.slow   # 4 short runs of the toy detector, ~1 min on a quiet 2-core machine
def test_killed_and_preempted_run_resumes_exactly(coco, tmp_path):
    reference, work = tmp_path / 'straight', tmp_path / 'chain'
    code, log = train(coco, reference)
    assert code == 0, log[-3000:]

    # SIGKILL inside the checkpoint write of iteration 4 (written, not yet renamed)
    code, log = train(coco, work, fault='kill-in-checkpoint:2')
    assert code == -9, log[-3000:]
    assert not osp.exists(work / 'iter_4.pth') and osp.exists(work / '.iter_4.pth.partial')
    assert last_checkpoint(work) == str(work / 'iter_2.pth')

    # SIGTERM during iteration 5 (mid-epoch 2): checkpoint at the end of iteration 5, exit 0
    code, log = train(coco, work, fault='sigterm-at-iter:5', resume=True)
    assert code == 0, log[-3000:]
    assert 'preempted by signal SIGTERM: checkpoint at iteration 5 written' in log
    assert last_checkpoint(work) == str(work / 'iter_5.pth')
    assert load(work / 'iter_5.pth')['meta']['iter'] == 5
    assert not osp.exists(work / '.iter_4.pth.partial')   # the stale partial file was removed

    code, log = train(coco, work, resume=True)
    assert code == 0, log[-3000:]
    assert 'resuming epoch 2 at batch 3 of 3' in log

    straight, _ = logged_scalars(reference)
    chained, repeats = logged_scalars(work)
    assert sorted(straight) == sorted(chained) == list(range(1, ITERS + 1))
    for iteration in straight:   # the same lr at every step, and the same losses
        assert chained[iteration]['lr'] == straight[iteration]['lr'], iteration
        assert chained[iteration]['loss'] == pytest.approx(straight[iteration]['loss'], rel=1e-4)
    for first, again in repeats:   # iterations run twice (killed, then resumed) ran the same
        assert first['lr'] == again['lr']
        assert first['loss'] == pytest.approx(again['loss'], rel=1e-4)
    final = load(work / f'iter_{ITERS}.pth')
    assert final['meta']['iter'] == ITERS and final['meta']['epoch'] == 1
    assert_same_weights(reference / f'iter_{ITERS}.pth', work / f'iter_{ITERS}.pth')


def break_images(coco):
    """A corrupt JPEG, a truncated one and a zero-byte file among the training images."""
    folder = osp.join(coco, 'train2017')
    names = sorted(os.listdir(folder))[:3]
    paths = [osp.join(folder, name) for name in names]
    with open(paths[0], 'r+b') as f:          # corrupt: the header overwritten
        f.write(b'\x00' * 64)
    data = open(paths[1], 'rb').read()
    with open(paths[1], 'wb') as f:           # truncated: cut in the middle of the scan
        f.write(data[:len(data) // 2])
    open(paths[2], 'wb').close()              # zero bytes
    return paths


@pytest.fixture(scope='module')
def broken_coco(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('broken_coco'))
    make_synthetic_coco(root, num_train=6, num_val=1, image_size=128)
    return root, break_images(root)


def test_unreadable_images_are_skipped_logged_once_and_counted(broken_coco, tmp_path):
    root, broken = broken_coco
    code, log = train(root, tmp_path, 'train_cfg.max_epochs=1', 'train_dataloader.batch_size=2',
                      'custom_hooks.0.max_fraction=0.5', 'default_hooks.checkpoint.interval=3')
    assert code == 0, log[-3000:]
    for path in broken:
        assert log.count(f'skipped unreadable sample {path}:') == 1, path
    assert 'truncated JPEG' in log and 'empty file (0 bytes)' in log
    assert 'epoch 1: skipped 3 unreadable file(s)' in log
    listed = (next(tmp_path.glob('*/skipped_files.txt'))).read_text().splitlines()
    assert sorted(line.split('\t')[0] for line in listed) == sorted(broken)
    assert 'Traceback' not in log
