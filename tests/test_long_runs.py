"""Long runs, the fast part: broken-file detection, the finetune/FCMAE datasets and hook,
the non-finite guard, a failed checkpoint write, tools/check_dataset.py, and every config family
wired up. The det/seg end-to-end runs are in test_long_runs_det.py / test_long_runs_seg.py."""
import errno
import glob
import io
import os
import os.path as osp
import textwrap
import uuid

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner
from PIL import Image
from torch.utils.data import Dataset

from engine import skipped_samples
from engine.image_files import UnreadableSample, bytes_problem, open_rgb
from engine.launch import REPO_ROOT
from engine.nonfinite import add_guard
from engine.stops import RunStopped


def jpeg_bytes(size=32, **save_options):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (size, size, 3), np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format='JPEG', **save_options)
    return buffer.getvalue()


def png_bytes(size=32):
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((size, size), np.uint8)).save(buffer, format='PNG')
    return buffer.getvalue()


# -- telling broken files from whole ones ----------------------------------------------------------
def test_whole_images_pass_the_byte_checks():
    assert bytes_problem(jpeg_bytes()) is None
    assert bytes_problem(jpeg_bytes(progressive=True)) is None      # several scans
    assert bytes_problem(jpeg_bytes() + b'camera trailer') is None  # data after the end marker
    assert bytes_problem(png_bytes()) is None


@pytest.mark.parametrize('data, reason', [
    (b'', 'empty file'),
    (jpeg_bytes()[:300], 'truncated JPEG'),
    (jpeg_bytes(progressive=True)[:-200], 'truncated JPEG'),
    (png_bytes()[:-20], 'truncated PNG'),
], ids=['empty', 'jpeg-cut-in-header', 'progressive-jpeg-cut', 'png-cut'])
def test_broken_images_are_named_with_the_reason(tmp_path, data, reason):
    assert reason in bytes_problem(data)
    path = tmp_path / 'broken.jpg'
    path.write_bytes(data)
    with pytest.raises(UnreadableSample, match=reason):
        open_rgb(str(path))


def test_undecodable_bytes_are_unreadable(tmp_path):
    path = tmp_path / 'corrupt.jpg'
    path.write_bytes(b'\xff\xd8' + b'\x00' * 64 + b'\xff\xda' + b'\x13' * 64 + b'\xff\xd9')
    with pytest.raises(UnreadableSample, match='cannot decode'):
        open_rgb(str(path))


# -- finetune and FCMAE datasets -------------------------------------------------------------------
@pytest.fixture
def records(tmp_path, monkeypatch):
    directory = tmp_path / 'records'
    monkeypatch.setenv(skipped_samples.DIR_VARIABLE, str(directory))
    return directory


def test_finetune_folder_draws_another_image_for_a_broken_one(tmp_path, records):
    from finetune.data import ImageFolderClassification
    for name in ('a', 'b'):
        folder = tmp_path / 'data' / 'train' / name
        folder.mkdir(parents=True)
        for i in range(3):
            (folder / f'{i}.jpg').write_bytes(jpeg_bytes(48))
    broken = tmp_path / 'data' / 'train' / 'a' / '1.jpg'
    broken.write_bytes(jpeg_bytes(48)[:-100])
    dataset = ImageFolderClassification(str(tmp_path / 'data'), img_size=32, rand_augment=None)
    index = [p for p, _ in dataset.folder.samples].index(str(broken))
    sample = dataset[index]
    assert sample['inputs'].shape == (3, 32, 32)
    assert skipped_samples.read_records(str(records)) == [
        (str(broken), 'truncated JPEG (no end-of-image marker after the last scan)')]
    assert [f['img_path'] for f in dataset.sample_files()] == [p for p, _ in dataset.folder.samples]


def test_a_dataset_of_broken_files_stops_with_one_line(tmp_path, records):
    from pretrain.dataset import UnlabeledImageFolder
    for i in range(3):
        (tmp_path / f'{i}.jpg').write_bytes(b'')
    with pytest.raises(RunStopped, match='3 samples drawn in a row were unreadable .*empty '
                                         'file.*dataset looks broken'):
        UnlabeledImageFolder(str(tmp_path), img_size=32)[0]


def fcmae_toy(tmp_path, broken=0, max_epochs=1, hooks='', batch_size=4):
    """The FCMAE toy config on 8 images of 64 px (2 iterations per epoch), ``broken`` of them
    zero-byte files; returns (config path, broken paths)."""
    from pretrain.synthetic import make_image_folder
    data = make_image_folder(str(tmp_path / 'data'), num_images=8, size=64)
    paths = sorted(glob.glob(osp.join(data, '*', '*')))[:broken]
    for path in paths:
        open(path, 'wb').close()
    config = tmp_path / 'toy.py'
    config.write_text(textwrap.dedent(f'''
        _base_ = {osp.join(REPO_ROOT, 'pretrain', 'configs', 'fcmae_convnextv2_atto_toy.py')!r}
        train_dataloader = dict(batch_size={batch_size}, num_workers=0,
                                dataset=dict(data_root={data!r}, img_size=64))
        train_cfg = dict(max_epochs={max_epochs})
        default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=4))
        randomness = dict(seed=0)
    ''') + hooks)
    return str(config), paths


def test_fcmae_run_skips_counts_and_lists_a_broken_image(tmp_path):
    from tools import pretrain_fcmae as pretrain_tool
    config, [broken] = fcmae_toy(tmp_path, broken=1, hooks=textwrap.dedent('''
        custom_hooks = [dict(type='SkippedSamplesHook', max_fraction=0.2),
                        dict(type='NonFiniteLossHook')]
    '''))
    runner = pretrain_tool.main([config, '--work-dir', str(tmp_path / 'work')])
    listed = open(osp.join(runner.log_dir, 'skipped_files.txt')).read().splitlines()
    assert listed == [f'{broken}\tempty file (0 bytes)']
    assert torch.load(tmp_path / 'work' / 'epoch_1.pth', weights_only=True,
                      map_location='cpu')['skipped_samples'] == {broken: 'empty file (0 bytes)'}


def test_more_broken_files_than_the_limit_stop_the_run_with_one_line(tmp_path, capsys):
    from tools import pretrain_fcmae as pretrain_tool
    config, broken = fcmae_toy(tmp_path, broken=2)    # default limit: max(1, 0.1% of 8) = 1
    with pytest.raises(SystemExit) as exit_info:
        pretrain_tool.main([config, '--work-dir', str(tmp_path / 'work')])
    assert exit_info.value.code == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith('error')]
    assert len(errors) == 1
    assert errors[0].startswith('error: 2 unreadable training files skipped, more than the limit '
                                'of 1 (0.10% of 8, at least 1): ')
    assert all(path in errors[0] for path in broken) and 'tools/check_dataset.py' in errors[0]


def test_non_finite_loss_steps_are_skipped_then_stop_and_the_last_checkpoint_resumes(
        tmp_path, monkeypatch, capsys):
    """NaN at iteration 3 alone (skipped, the run goes on), then from 5 on: 2 in a row stop it at 6,
    in epoch 3, so epoch_2.pth (iteration 4) stays the checkpoint --resume takes."""
    from mmengine.logging import MessageHub
    from tools import pretrain_fcmae as pretrain_tool
    config, _ = fcmae_toy(tmp_path, max_epochs=4, hooks=textwrap.dedent('''
        custom_hooks = [dict(type='NonFiniteLossHook', max_consecutive=2)]
    '''))
    parse_losses = BaseModel.parse_losses

    def nan_at_3_and_from_5(self, losses):
        iteration = MessageHub.get_current_instance().get_info('iter') + 1
        if iteration == 3 or iteration >= 5:
            losses = {key: value * torch.nan for key, value in losses.items()}
        return parse_losses(self, losses)

    monkeypatch.setattr(BaseModel, 'parse_losses', nan_at_3_and_from_5)
    work = tmp_path / 'work'
    # a name of its own: mmengine names the logger after the second the Runner starts, and reuses
    # (with its log file in another work dir) one that an earlier test made in the same second
    name = f'experiment_name=nonfinite-{uuid.uuid4().hex}'
    with pytest.raises(SystemExit) as exit_info:
        pretrain_tool.main([config, '--work-dir', str(work), '--cfg-options', name])
    assert exit_info.value.code == 1
    log = capsys.readouterr()
    errors = [line for line in log.err.splitlines() if line.startswith('error')]
    assert len(errors) == 1 and errors[0].startswith(
        'error: non-finite loss at iteration 6 (loss=nan), 2 iterations in a row;'), errors
    assert str(work / 'epoch_2.pth') in errors[0]
    warnings = open(glob.glob(str(work / '*' / '*.log'))[0]).read()
    assert 'iteration 3: non-finite loss (loss=nan); optimizer step skipped (1 in a row' in warnings
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_2.pth')
    assert not (work / 'epoch_3.pth').exists()
    saved = torch.load(work / 'epoch_2.pth', weights_only=True, map_location='cpu')
    assert all(torch.isfinite(w).all() for w in saved['state_dict'].values())

    monkeypatch.undo()
    runner = pretrain_tool.main([config, '--work-dir', str(work), '--resume'])
    assert runner.iter == 8 and (work / 'epoch_4.pth').exists()


def test_non_finite_terms_are_named():
    from engine.nonfinite import non_finite_terms
    outputs = dict(loss=torch.tensor(float('nan')), loss_cls=torch.tensor(0.5),
                   loss_bbox=torch.tensor(float('inf')), acc=torch.tensor(50.0))
    assert non_finite_terms(outputs) == 'loss=nan, loss_bbox=inf'


def test_reports_of_several_processes_are_each_read_once(tmp_path):
    (tmp_path / 'node-1.tsv').write_text('a.jpg\tempty\nb.jpg\ttruncated\n')
    (tmp_path / 'node-2.tsv').write_text('c.png\tlabel map\n')
    seen = {}
    assert skipped_samples.read_records(str(tmp_path), seen) == [
        ('a.jpg', 'empty'), ('b.jpg', 'truncated'), ('c.png', 'label map')]
    with open(tmp_path / 'node-1.tsv', 'a') as f:
        f.write('a.jpg\tempty\nd.jpg\thalf a li')   # the last line is still being written
    assert skipped_samples.read_records(str(tmp_path), seen) == [('a.jpg', 'empty')]
    with open(tmp_path / 'node-1.tsv', 'a') as f:
        f.write('ne\n')
    assert skipped_samples.read_records(str(tmp_path), seen) == [('d.jpg', 'half a line')]


def test_skip_limit_is_a_share_of_the_dataset_and_at_least_min_files():
    hook = skipped_samples.SkippedSamplesHook()
    assert hook.limit(200) == 1 and hook.limit(118287) == 118
    assert skipped_samples.SkippedSamplesHook(max_fraction=0.01, min_files=5).limit(100) == 5


# -- non-finite losses -----------------------------------------------------------------------------
def guarded_wrapper(accumulation=1):
    layer = nn.Linear(2, 1)
    wrapper = OptimWrapper(torch.optim.AdamW(layer.parameters(), lr=0.1),
                           accumulative_counts=accumulation)
    add_guard(wrapper)
    return layer, wrapper


def test_a_non_finite_loss_changes_neither_weights_nor_optimizer_state():
    layer, wrapper = guarded_wrapper()
    before = [p.detach().clone() for p in layer.parameters()]
    wrapper.update_params(layer(torch.ones(1, 2)).sum() * torch.nan)
    assert not wrapper.loss_was_finite
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters()))
    assert not wrapper.optimizer.state and all(p.grad is None or not p.grad.any()
                                               for p in layer.parameters())
    wrapper.update_params(layer(torch.ones(1, 2)).sum())
    assert wrapper.loss_was_finite
    assert not all(torch.equal(a, b) for a, b in zip(before, layer.parameters()))


def test_a_non_finite_micro_batch_drops_its_whole_accumulation_window():
    layer, wrapper = guarded_wrapper(accumulation=2)
    wrapper.initialize_count_status(layer, 0, 4)
    before = [p.detach().clone() for p in layer.parameters()]
    wrapper.update_params(layer(torch.ones(1, 2)).sum() * torch.inf)   # window 1: inf, then finite
    wrapper.update_params(layer(torch.ones(1, 2)).sum())
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters()))
    wrapper.update_params(layer(torch.ones(1, 2)).sum())                # window 2: finite
    wrapper.update_params(layer(torch.ones(1, 2)).sum())
    assert not all(torch.equal(a, b) for a, b in zip(before, layer.parameters()))


# -- a checkpoint write that fails -----------------------------------------------------------------
class Points(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        return dict(inputs=torch.full((2,), float(index)))


class Line(BaseModel):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def forward(self, inputs, mode='loss'):
        return dict(loss=self.layer(inputs).pow(2).mean())


def line_runner(work_dir, max_iters, resume=False):
    return Runner(
        model=Line(), work_dir=str(work_dir), resume=resume,
        train_dataloader=dict(dataset=Points(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(type='ResumableIterBasedTrainLoop', max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=dict(type='AtomicCheckpointHook', interval=2,
                                           by_epoch=False, max_keep_ckpts=1)),
        custom_hooks=[dict(type='RandomStateHook')],
        default_scope='mmengine', randomness=dict(seed=0), log_level='WARNING')


def test_disk_full_stops_the_run_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import mmengine.runner.runner as runner_module
    real_save, calls = runner_module.save_checkpoint, []

    def fill_the_disk(checkpoint, filename, *args, **kwargs):
        calls.append(filename)
        if len(calls) == 1:
            return real_save(checkpoint, filename, *args, **kwargs)
        with open(filename, 'wb') as f:
            f.write(b'half a checkpoint')
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)

    monkeypatch.setattr(runner_module, 'save_checkpoint', fill_the_disk)
    with pytest.raises(RunStopped) as stop:
        line_runner(tmp_path, max_iters=6).train()
    message = str(stop.value)
    assert '\n' not in message and 'iter_4.pth' in message and '(disk full)' in message
    assert 'previous checkpoint and last_checkpoint are unchanged' in message
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_2.pth')
    assert not glob.glob(str(tmp_path / '.*partial'))   # the half-written file was removed
    assert not (tmp_path / 'iter_4.pth').exists()
    monkeypatch.undo()
    resumed = line_runner(tmp_path, max_iters=6, resume=True)
    resumed.train()
    assert torch.load(tmp_path / 'iter_6.pth', weights_only=True)['meta']['iter'] == 6


# -- tools/check_dataset.py ------------------------------------------------------------------------
def test_check_dataset_lists_every_bad_file(tmp_path, capsys):
    from downstream.synthetic_coco import make_synthetic_coco
    from tools import check_dataset
    from reports.quickstart import TOY_CONFIG, data_options
    root = str(tmp_path / 'coco')
    make_synthetic_coco(root, num_train=4, num_val=2, image_size=64)
    bad_train = sorted(glob.glob(osp.join(root, 'train2017', '*.jpg')))[1]
    bad_val = sorted(glob.glob(osp.join(root, 'val2017', '*.jpg')))[0]
    open(bad_train, 'wb').close()
    data = open(bad_val, 'rb').read()
    open(bad_val, 'wb').write(data[:len(data) // 3])
    out = tmp_path / 'bad.txt'
    with pytest.raises(SystemExit) as exit_info:
        check_dataset.main([osp.join(REPO_ROOT, TOY_CONFIG), '--workers', '2', '--out', str(out),
                            '--cfg-options', *data_options(root)])
    assert exit_info.value.code == 1
    assert out.read_text().splitlines() == sorted([
        f'{bad_train}\tempty file (0 bytes)',
        f'{bad_val}\ttruncated JPEG (no end-of-image marker after the last scan)'])
    assert '2 bad file(s), listed in' in capsys.readouterr().err


# -- every training config family is wired up ------------------------------------------------------
@pytest.mark.parametrize('config', [
    'det_configs/mask-rcnn_convnextv2-tiny_fpn_lsj-3x_coco.py',
    'det_configs/mask-rcnn_convnextv2-atto_fpn_synthetic-coco.py',
    'seg_configs/upernet_convnextv2-tiny_8xb2-amp-160k_ade20k-512x512.py',
    'seg_configs/upernet_convnextv2-atto_toy-synthetic-ade20k.py',
    'finetune/configs/finetune_convnextv2_tiny_300e_in1k.py',
    'pretrain/configs/fcmae_convnextv2_base_800e_in1k.py',
    'pretrain/configs/fcmae_convnextv2_atto_toy.py',
])
def test_every_config_family_has_the_long_run_machinery(config):
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    hooks = [h['type'] for h in cfg.custom_hooks]
    for hook in ('SkippedSamplesHook', 'NonFiniteLossHook', 'PreemptionHook', 'RandomStateHook'):
        assert hook in hooks, (config, hook)
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    assert cfg.train_cfg.type.startswith('Resumable')
    if config.startswith(('det_', 'seg_')):
        assert cfg.train_dataloader.dataset.pipeline[0].type == 'SafeLoadImageFromFile'


# -- tools/slurm_train.sh --------------------------------------------------------------------------
def test_slurm_script_passes_the_signal_on_and_requeues(tmp_path):
    import signal
    import subprocess
    import time
    fake_bin, calls = tmp_path / 'bin', tmp_path / 'calls.log'
    fake_bin.mkdir()
    (fake_bin / 'srun').write_text(textwrap.dedent(f'''\
        #!/usr/bin/env bash
        echo "srun $*" >> {calls}
        sleep 60 & sleeper=$!
        trap 'echo "tasks got TERM" >> {calls}; kill $sleeper; exit 0' TERM
        wait
    '''))
    (fake_bin / 'scontrol').write_text(f'#!/usr/bin/env bash\necho "scontrol $*" >> {calls}\n')
    for tool in ('srun', 'scontrol'):
        os.chmod(fake_bin / tool, 0o755)
    env = dict(os.environ, PATH=f'{fake_bin}:{os.environ["PATH"]}', SLURM_JOB_ID='4242',
               SLURM_SUBMIT_DIR=REPO_ROOT)
    toy = 'pretrain/configs/fcmae_convnextv2_atto_toy.py'
    script = subprocess.Popen(['bash', osp.join(REPO_ROOT, 'tools', 'slurm_train.sh'), 'pretrain',
                               toy, str(tmp_path / 'w')], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 30
    while not (calls.exists() and 'srun' in calls.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    script.send_signal(signal.SIGUSR1)   # what '#SBATCH --signal=B:USR1@180' sends
    output, _ = script.communicate(timeout=30)
    assert script.returncode == 0, output
    logged = calls.read_text().splitlines()
    assert logged[0] == (f'srun --kill-on-bad-exit=1 python -u tools/pretrain_fcmae.py '
                         f'{toy} --work-dir {tmp_path / "w"} '
                         '--launcher slurm --resume')
    assert logged[1:] == ['tasks got TERM', 'scontrol requeue 4242']


# -- two processes: every rank takes the same decision ---------------------------------------------
@pytest.mark.slow   # two 2-process torchrun runs of the FCMAE toy, ~1 min
def test_distributed_ranks_stop_and_checkpoint_together(tmp_path):
    import socket
    import subprocess
    import sys
    config, _ = fcmae_toy(tmp_path, max_epochs=3, batch_size=2, hooks=textwrap.dedent('''
        custom_hooks = [dict(type='NonFiniteLossHook', max_consecutive=2), dict(type='PreemptionHook')]
    '''))

    def torchrun(work_dir, fault):
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        env = dict(os.environ, OMP_NUM_THREADS='1', FAULT=fault, FAULT_RANK='1')
        done = subprocess.run(
            [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
             f'--master_port={port}', osp.join('tests', 'fault_injection.py'),
             osp.join('tools', 'pretrain_fcmae.py'), config, '--work-dir', str(work_dir),
             '--launcher', 'pytorch'], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
            timeout=300)
        return done.returncode, done.stdout + done.stderr

    # NaN on rank 1 only: both ranks skip the steps (no DDP hang) and stop at iteration 4
    code, log = torchrun(tmp_path / 'nan', 'nan-from-iter:3')
    assert code != 0, log[-3000:]
    assert log.count('error: non-finite loss at iteration 4') == 2, log[-3000:]
    # SIGTERM to rank 1 only: both stop after iteration 3, rank 0 writes iter_3.pth, exit 0
    code, log = torchrun(tmp_path / 'term', 'sigterm-at-iter:3')
    assert code == 0, log[-3000:]
    assert (tmp_path / 'term' / 'last_checkpoint').read_text() == str(tmp_path / 'term' /
                                                                       'iter_3.pth')


@pytest.mark.parametrize('end', ['return', 'preempted', 'error'])
def test_a_clean_end_leaves_the_process_group_and_an_error_keeps_it(tmp_path, end):
    # left to interpreter exit, Gloo's threads can abort a rank (SIGABRT) after a clean run; after an
    # error the group stays (teardown could block on ranks still inside a collective)
    import socket
    import sys
    from types import SimpleNamespace

    from engine.launch import train_or_stop

    def run():
        if end == 'preempted':
            sys.exit(0)
        if end == 'error':
            raise RunStopped('stop')
        return 'done'

    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    torch.distributed.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=0,
                                         world_size=1)
    try:
        if end == 'return':
            assert train_or_stop(SimpleNamespace(work_dir=str(tmp_path)), run) == 'done'
        else:
            with pytest.raises(SystemExit):
                train_or_stop(SimpleNamespace(work_dir=str(tmp_path)), run)
        assert torch.distributed.is_initialized() == (end == 'error')
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
