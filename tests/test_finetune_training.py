"""The finetune on mmengine's Runner: EMA weights are evaluated and saved, a resumed run gets its
EMA weights back, the checkpoint exports to a det/seg backbone, --eval reproduces the accuracy."""
import os
import textwrap
import uuid

import pytest
import torch
from mmengine.hooks import EMAHook

from backbones.checkpoints.load import read_checkpoint
from tools import finetune_imagenet as finetune_tool
from finetune.synthetic import make_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = os.path.join(REPO, 'finetune', 'configs', 'toy', 'finetune_convnextv2_atto_toy.py')
ITERS_PER_EPOCH = 3   # 12 images, batch 4


def toy_config(tmp_path, data_root, epochs=2):
    """The toy config on 12 generated 32x32 images of 3 classes: 3 iterations per epoch."""
    path = tmp_path / f'toy_{uuid.uuid4().hex[:6]}.py'
    path.write_text(textwrap.dedent(f'''
        _base_ = {TOY!r}
        recipe = dict(num_classes=3, batch_size=4, epochs={epochs})
        data_root = {data_root!r}
        train_dataloader = dict(batch_size=4)
        val_dataloader = dict(batch_size=6)
        train_cfg = dict(val_interval=1)
        default_hooks = dict(logger=dict(interval=1),
                             checkpoint=dict(interval=1, max_keep_ckpts=3))
        experiment_name = 'finetune_test_{uuid.uuid4().hex[:8]}'
    '''))
    return str(path)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """One 2-epoch toy run with checkpoints after both epochs."""
    tmp = tmp_path_factory.mktemp('finetune')
    data = str(tmp / 'data')
    make_dataset(data, num_classes=3, train_per_class=4, val_per_class=2, size=32)
    config = toy_config(tmp, data)
    work_dir = str(tmp / 'work')
    runner = finetune_tool.main([config, '--work-dir', work_dir])
    return dict(tmp=tmp, data=data, config=config, work_dir=work_dir, runner=runner)


def ema_hook(runner):
    return next(h for h in runner.hooks if isinstance(h, EMAHook))


def test_checkpoints_hold_ema_weights_and_raw_weights(trained):
    ckpt = read_checkpoint(os.path.join(trained['work_dir'], 'epoch_2.pth'))
    assert ckpt['meta']['epoch'] == 2 and ckpt['meta']['iter'] == 2 * ITERS_PER_EPOCH
    ema, raw = ckpt['state_dict'], ckpt['ema_state_dict']
    assert int(raw['steps']) == 2 * ITERS_PER_EPOCH
    key = 'backbone.stages.2.1.pwconv1.weight'
    assert not torch.equal(ema[key], raw['module.' + key])   # decay 0.95: they differ

    # the EMA is what it should be: the hook's average, and the model holds the raw weights
    runner = trained['runner']
    assert torch.equal(ema_hook(runner).ema_model.module.state_dict()[key], ema[key])
    assert torch.equal(runner.model.state_dict()[key], raw['module.' + key])
    best = [f for f in os.listdir(trained['work_dir']) if f.startswith('best_accuracy_top1')]
    assert len(best) == 1


def test_resume_mid_run_restores_model_ema_and_step_count(trained, tmp_path):
    epoch_1 = os.path.join(trained['work_dir'], 'epoch_1.pth')
    saved = read_checkpoint(epoch_1)
    # a "run" whose last epoch is the checkpoint's: resuming loads everything and trains nothing
    runner = finetune_tool.main([toy_config(tmp_path, trained['data'], epochs=1), '--work-dir',
                            str(tmp_path / 'resumed'), '--resume', epoch_1])
    assert runner.epoch == 1 and runner.iter == ITERS_PER_EPOCH
    ema_model = ema_hook(runner).ema_model
    assert int(ema_model.steps) == ITERS_PER_EPOCH
    for key, value in ema_model.module.state_dict().items():
        assert torch.equal(value, saved['state_dict'][key]), key            # EMA weights back
        assert torch.equal(runner.model.state_dict()[key], saved['ema_state_dict']['module.' + key])

    # and it carries on from there to the end of the original schedule
    work = str(tmp_path / 'continued')
    runner = finetune_tool.main([toy_config(tmp_path, trained['data']), '--work-dir', work,
                            '--resume', epoch_1])
    final = read_checkpoint(os.path.join(work, 'epoch_2.pth'))
    assert final['meta']['iter'] == 2 * ITERS_PER_EPOCH
    assert int(final['ema_state_dict']['steps']) == 2 * ITERS_PER_EPOCH


def test_eval_of_a_checkpoint_reports_top1_top5_of_its_ema_weights(trained):
    epoch_2 = os.path.join(trained['work_dir'], 'epoch_2.pth')
    with open(os.path.join(trained['runner'].log_dir, f'{trained["runner"].timestamp}.log')) as f:
        logged = [line for line in f if 'Epoch(val) [2]' in line][-1]
    metrics = finetune_tool.main([trained['config'], '--eval', epoch_2, '--work-dir',
                             os.path.join(trained['tmp'], 'eval')])
    assert set(metrics) == {'accuracy/top1', 'accuracy/top5'}
    assert f'accuracy/top1: {metrics["accuracy/top1"]:.4f}' in logged
