"""mmengine 0.10.7 resumes its own checkpoints on torch >= 2.6 with weights_only kept on."""
import copy

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from backbones import ConvNeXtV2
from engine.mmengine_compat import history_buffer_getattr


class RandomImages(Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, index):
        gen = torch.Generator().manual_seed(index)
        return dict(inputs=torch.randn(3, 32, 32, generator=gen), target=torch.tensor(index % 2))


class TinyClassifier(BaseModel):
    def __init__(self):
        super().__init__()
        self.backbone = ConvNeXtV2('atto', out_indices=(3,))
        self.head = nn.Linear(320, 2)

    def forward(self, inputs, target, mode='loss'):
        logits = self.head(self.backbone(inputs)[0].mean((2, 3)))
        return dict(loss=nn.functional.cross_entropy(logits, target))


class RecordStart(Hook):
    """Remember the state the runner starts training from."""

    def before_train(self, runner):
        runner.start_state = dict(iter=runner.iter, weights=copy.deepcopy(runner.model.state_dict()),
                                  optimizer=copy.deepcopy(runner.optim_wrapper.state_dict()))


def make_runner(work_dir, max_iters, resume):
    return Runner(
        model=TinyClassifier(), work_dir=str(work_dir), resume=resume,
        train_dataloader=dict(dataset=RandomImages(), batch_size=4, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        param_scheduler=[dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=8)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=4, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[RecordStart()], default_scope='mmengine',
        randomness=dict(seed=0), log_level='WARNING')


def test_resume_continues_iteration_optimizer_and_weights(tmp_path):
    make_runner(tmp_path, max_iters=4, resume=False).train()
    saved = torch.load(tmp_path / 'iter_4.pth', map_location='cpu')   # default weights_only=True
    assert saved['meta']['iter'] == 4

    resumed = make_runner(tmp_path, max_iters=6, resume=True)
    resumed.train()
    start = resumed.start_state
    assert start['iter'] == 4
    for key, value in saved['state_dict'].items():
        assert torch.equal(start['weights'][key], value), key
    saved_opt, start_opt = saved['optimizer']['state'], start['optimizer']['state']
    assert set(saved_opt) == set(start_opt)
    for index, state in saved_opt.items():
        assert float(start_opt[index]['step']) == float(state['step']) == 4
        assert torch.equal(start_opt[index]['exp_avg'], state['exp_avg'])
    assert resumed.iter == 6
    straight = make_runner(tmp_path / 'straight', max_iters=6, resume=False)
    straight.train()
    assert resumed.optim_wrapper.get_lr() == straight.optim_wrapper.get_lr()   # scheduler continued


def test_getattr_stand_in_allows_only_history_buffer_statistics():
    from mmengine.logging.history_buffer import HistoryBuffer
    assert history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(RuntimeError, match='not allow-listed'):
        history_buffer_getattr(HistoryBuffer, '__init__')
    with pytest.raises(RuntimeError, match='not allow-listed'):
        history_buffer_getattr(torch, 'load')
