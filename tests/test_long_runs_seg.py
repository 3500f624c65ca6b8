"""Long seg runs survive kills and bad files, on the CPU toy config.

An iteration-based run: 8 training images, batch 2 (4 iterations per pass over the data). The
SIGKILL-inside-a-write and SIGTERM cases run on det (test_long_runs_det.py), the NaN stop and the
skip limit on FCMAE (test_long_runs.py): the same hooks serve all four entry points.
"""
import os
import os.path as osp

import pytest
from PIL import Image

from downstream.synthetic_ade20k import make_synthetic_ade20k
from tests.long_run_helpers import (assert_same_weights, last_checkpoint, load, logged_scalars,
                                    run_tool)

TOY_CONFIG = osp.join('seg_configs', 'upernet_convnextv2-atto_toy-synthetic-ade20k.py')
ITERS = 6


@pytest.fixture(scope='module')
def ade(tmp_path_factory):
    return make_synthetic_ade20k(str(tmp_path_factory.mktemp('ade')), num_train=8, num_val=1,
                                 size=(64, 80))


def train(root, work_dir, *options, fault='', resume=False, iters=ITERS):
    args = [TOY_CONFIG, '--work-dir', str(work_dir), *(['--resume'] if resume else []),
            '--cfg-options', f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}', f'test_dataloader.dataset.data_root={root}',
            'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
            'train_dataloader.batch_size=2', f'train_cfg.max_iters={iters}',
            f'train_cfg.val_interval={iters + 1}', 'val_cfg=None', 'val_dataloader=None',
            'val_evaluator=None', 'randomness.seed=0', 'default_hooks.checkpoint.interval=2',
            'default_hooks.checkpoint.max_keep_ckpts=4', 'default_hooks.logger.interval=1',
            'log_processor.window_size=1', *options]
    return run_tool('train.py', args, fault=fault)


@pytest.mark.slow   # 3 short runs of the toy segmentor, ~1 min on a quiet 2-core machine
def test_killed_run_resumes_exactly(ade, tmp_path):
    reference, work = tmp_path / 'straight', tmp_path / 'chain'
    code, log = train(ade, reference)
    assert code == 0, log[-3000:]

    code, log = train(ade, work, fault='kill-after-iter:3')
    assert code == -9, log[-3000:]
    assert last_checkpoint(work) == str(work / 'iter_2.pth')

    code, log = train(ade, work, resume=True)
    assert code == 0, log[-3000:]
    assert 'the 2 trained batches are skipped without being read' in log

    straight, _ = logged_scalars(reference)
    chained, repeats = logged_scalars(work)
    assert sorted(straight) == sorted(chained) == list(range(1, ITERS + 1))
    for iteration in straight:
        assert chained[iteration]['lr'] == straight[iteration]['lr'], iteration
        assert chained[iteration]['loss'] == pytest.approx(straight[iteration]['loss'], rel=1e-4)
    for first, again in repeats:
        assert first['lr'] == again['lr']
        assert first['loss'] == pytest.approx(again['loss'], rel=1e-4)
    assert load(work / f'iter_{ITERS}.pth')['meta']['iter'] == ITERS
    assert_same_weights(reference / f'iter_{ITERS}.pth', work / f'iter_{ITERS}.pth')


@pytest.fixture(scope='module')
def broken_ade(tmp_path_factory):
    root = make_synthetic_ade20k(str(tmp_path_factory.mktemp('broken_ade')), num_train=8,
                                 num_val=1, size=(64, 80))
    labels = osp.join(root, 'annotations', 'training')
    images = osp.join(root, 'images', 'training')
    names = sorted(n[:-4] for n in os.listdir(labels))
    wrong_size = osp.join(labels, names[0] + '.png')
    label = Image.open(wrong_size)
    label.resize((label.width + 8, label.height)).save(wrong_size)
    truncated_label = osp.join(labels, names[1] + '.png')
    data = open(truncated_label, 'rb').read()
    open(truncated_label, 'wb').write(data[:len(data) // 2])
    zero_image = osp.join(images, names[2] + '.jpg')
    open(zero_image, 'wb').close()
    return root, [wrong_size, truncated_label, zero_image]


def test_bad_label_maps_and_images_are_skipped_with_dataloader_workers(broken_ade, tmp_path):
    root, broken = broken_ade
    code, log = train(root, tmp_path, 'train_dataloader.num_workers=2',
                      'custom_hooks.0.max_fraction=0.5', iters=4)
    assert code == 0, log[-3000:]
    for path in broken:   # reported by the worker processes, logged once by the main process
        assert log.count(f'skipped unreadable sample {path}:') == 1, (path, log[-3000:])
    assert 'but its image' in log and 'label map: truncated PNG' in log
    assert 'pass over the data ending at iteration 4: skipped 3 unreadable file(s)' in log
    assert 'Traceback' not in log
