"""FCMAE pretraining configs follow the paper's Table 8 for all eight sizes, 800 and 1600 epochs."""
import glob
import os

import pytest
from mmengine.config import Config

from backbones.variants import ARCHS
from engine.batch_scaling import scale_to_effective_batch
from engine.launch import fit_to_machine, world_size

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'pretrain',
                       'configs')


def load(size, epochs):
    return Config.fromfile(os.path.join(CONFIGS, f'fcmae_convnextv2_{size}_{epochs}e_in1k.py'))


def test_every_size_has_an_800_and_a_1600_epoch_config():
    found = {os.path.basename(p) for p in glob.glob(os.path.join(CONFIGS, '*_in1k.py'))}
    assert found == {f'fcmae_convnextv2_{s}_{e}e_in1k.py' for s in ARCHS for e in (800, 1600)}


@pytest.mark.parametrize('epochs', [800, 1600])
@pytest.mark.parametrize('size', list(ARCHS))
def test_config_is_table_8(size, epochs):
    cfg = load(size, epochs)
    assert cfg.model.type == 'FCMAE' and cfg.model.arch == size
    assert (cfg.model.decoder_dim, cfg.model.decoder_depth, cfg.model.mask_ratio) == (512, 1, 0.6)
    assert cfg.model.norm_pix_loss is True
    assert cfg.train_cfg.max_epochs == epochs
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.begin, warmup.end) == ('LinearLR', 0, 40)
    assert (cosine.type, cosine.begin, cosine.end, cosine.T_max) == (
        'CosineAnnealingLR', 40, epochs, epochs - 40)
    assert all(s.by_epoch and s.convert_to_iter_based for s in cfg.param_scheduler)
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.betas, optimizer.weight_decay) == ('AdamW', (0.9, 0.95), 0.05)
    assert (cfg.optim_wrapper.type, cfg.optim_wrapper.dtype) == ('AmpOptimWrapper', 'bfloat16')
    assert (cfg.effective_batch_size, cfg.base_lr) == (4096, 1.5e-4)
    assert cfg.train_dataloader.dataset.type == 'UnlabeledImageFolder'
    assert cfg.train_dataloader.dataset.scale == (0.2, 1.0)
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    assert cfg.randomness.diff_rank_seed   # every GPU draws its own masks


@pytest.mark.parametrize('gpus, batch, counts, lr', [
    (8, 64, 8, 2.4e-3),      # 64 x 8 x 8 = 4096: lr = 1.5e-4 x 4096 / 256
    (1, 64, 64, 2.4e-3),
    (16, 32, 8, 2.4e-3),
])
def test_accumulation_reaches_4096_and_scales_lr(gpus, batch, counts, lr):
    cfg = load('base', 800)
    cfg.train_dataloader.batch_size = batch
    report = scale_to_effective_batch(cfg, gpus)
    assert cfg.optim_wrapper.accumulative_counts == counts
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(lr)
    assert 'effective batch 4096' in report


def test_batch_that_does_not_divide_4096_is_reported():
    cfg = load('base', 800)
    report = scale_to_effective_batch(cfg, 3)     # 64 x 3 = 192 per step
    assert cfg.optim_wrapper.accumulative_counts == 21
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(1.5e-4 * 4032 / 256)
    assert 'effective batch 4032' in report and 'asks for 4096' in report


def test_toy_config_keeps_its_lr_and_world_size_comes_from_the_launcher(monkeypatch):
    cfg = Config.fromfile(os.path.join(CONFIGS, 'fcmae_convnextv2_atto_toy.py'))
    scale_to_effective_batch(cfg, 1)
    assert cfg.optim_wrapper.optimizer.lr == 2e-3 and cfg.optim_wrapper.type == 'OptimWrapper'
    assert world_size('none') == 1
    monkeypatch.setenv('WORLD_SIZE', '16')
    assert world_size('pytorch') == 16


def test_amp_falls_back_to_fp32_only_without_gpu(monkeypatch):
    cfg = load('atto', 800)
    monkeypatch.setattr('torch.cuda.is_available', lambda: False)
    assert 'float32' in fit_to_machine(cfg)
    assert cfg.optim_wrapper.type == 'OptimWrapper' and 'dtype' not in cfg.optim_wrapper
    cfg = load('atto', 800)
    monkeypatch.setattr('torch.cuda.is_available', lambda: True)
    assert fit_to_machine(cfg) is None
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
