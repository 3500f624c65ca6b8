"""FCMAE on mmengine's Runner: a kill at any moment, also mid-checkpoint-write, resumes from the
last complete checkpoint; the checkpoints it writes convert and visualise."""
import os
import subprocess
import sys
import textwrap
import uuid

import pytest
import torch

from backbones.checkpoints.load import read_checkpoint
from pretrain.synthetic import make_image_folder
from backbones.checkpoints.extract import convert_fcmae
from tools import pretrain_fcmae as pretrain_tool, visualize_fcmae

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = os.path.join(REPO, 'pretrain', 'configs', 'fcmae_convnextv2_atto_toy.py')

# Dies in the middle of the N-th checkpoint write: half the bytes on disk, then SIGKILL.
KILL_MID_WRITE = textwrap.dedent('''
    import io, os, signal, sys
    sys.path.insert(0, {repo!r})
    import torch
    import mmengine.runner.runner as runner_module
    real_save, calls = runner_module.save_checkpoint, []

    def save_then_die(checkpoint, filename, *args, **kwargs):
        calls.append(filename)
        if len(calls) < {kill_at}:
            return real_save(checkpoint, filename, *args, **kwargs)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        with open(filename, 'wb') as f:
            f.write(buffer.getvalue()[:len(buffer.getvalue()) // 2])
        os.kill(os.getpid(), signal.SIGKILL)

    runner_module.save_checkpoint = save_then_die
    from tools.pretrain_fcmae import main
    main(sys.argv[1:])
''')


@pytest.fixture()
def toy_config(tmp_path):
    """The toy config on 8 generated 64x64 images: 2 iterations per epoch, 3 epochs."""
    data = make_image_folder(str(tmp_path / 'data'), num_images=8, size=64)
    path = tmp_path / 'toy.py'
    path.write_text(textwrap.dedent(f'''
        _base_ = {TOY!r}
        train_dataloader = dict(batch_size=4, num_workers=0,
                                dataset=dict(data_root={data!r}, img_size=64))
        train_cfg = dict(max_epochs=3)
        default_hooks = dict(logger=dict(interval=1),
                             checkpoint=dict(interval=1, max_keep_ckpts=1))
    '''))
    return str(path)


def run_pretrain(config, work_dir, *extra):
    name = f'fcmae_test_{uuid.uuid4().hex[:8]}'   # a fresh logger / visualiser per run
    return pretrain_tool.main([config, '--work-dir', work_dir, *extra,
                               '--cfg-options', f'experiment_name={name}'])


def last_checkpoint(work_dir):
    with open(os.path.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def resumed_from(runner):
    with open(os.path.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
        log = f.read()
    return [line.split('resumed epoch: ')[1].split(',')[0] for line in log.splitlines()
            if 'resumed epoch: ' in line]


def test_sigkill_mid_checkpoint_write_then_resume(toy_config, tmp_path):
    work_dir = str(tmp_path / 'work')
    script = tmp_path / 'kill_mid_write.py'
    script.write_text(KILL_MID_WRITE.format(repo=REPO, kill_at=2))
    proc = subprocess.run([sys.executable, str(script), toy_config, '--work-dir', work_dir],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]

    # killed while writing epoch 2: only a hidden partial file; epoch 1 is intact and current
    files = set(os.listdir(work_dir))
    assert '.epoch_2.pth.partial' in files and 'epoch_2.pth' not in files
    assert last_checkpoint(work_dir) == os.path.join(work_dir, 'epoch_1.pth')
    assert read_checkpoint(os.path.join(work_dir, 'epoch_1.pth'))['meta']['epoch'] == 1

    runner = run_pretrain(toy_config, work_dir, '--resume')
    assert resumed_from(runner) == ['1']
    assert last_checkpoint(work_dir) == os.path.join(work_dir, 'epoch_3.pth')
    final = read_checkpoint(os.path.join(work_dir, 'epoch_3.pth'))
    assert (final['meta']['epoch'], final['meta']['iter']) == (3, 6)
    assert not [f for f in os.listdir(work_dir) if f.endswith('.partial') or f == 'epoch_1.pth']

    # what the Runner wrote converts to backbone weights and can be visualised
    lines = convert_fcmae(os.path.join(work_dir, 'epoch_3.pth'),
                                       str(tmp_path / 'atto.pth'))
    assert 'ConvNeXt V2-atto encoder' in lines[1]
    visualize_fcmae.main([os.path.join(work_dir, 'epoch_3.pth'), str(tmp_path / 'data'),
                          '--num', '2', '--size', '64', '--out', str(tmp_path / 'recon.png')])
    assert (tmp_path / 'recon.png').stat().st_size > 0


class Crash(BaseException):
    """Stands for a kill at a chosen line (BaseException: nothing on the way catches it)."""


@pytest.mark.parametrize('crash_point, crash_call, resumes_at', [
    ('atomic_write_text', 2, '1'),   # epoch 2 renamed into place, last_checkpoint not yet updated
    ('remove', 1, '2'),              # last_checkpoint says epoch 2, epoch 1 not yet deleted
])
def test_crash_between_checkpoint_steps_then_resume(toy_config, tmp_path, monkeypatch,
                                                    crash_point, crash_call, resumes_at):
    import engine.checkpoint_hook as hook_module
    target = hook_module if crash_point == 'atomic_write_text' else hook_module.os
    real, calls = getattr(target, crash_point), []

    def crash_during_second_save(*args, **kwargs):
        calls.append(args)
        if len(calls) == crash_call:
            raise Crash
        return real(*args, **kwargs)
    work_dir = str(tmp_path / 'work')
    monkeypatch.setattr(target, crash_point, crash_during_second_save)
    with pytest.raises(Crash):
        run_pretrain(toy_config, work_dir)
    monkeypatch.undo()

    current = last_checkpoint(work_dir)
    assert current == os.path.join(work_dir, f'epoch_{resumes_at}.pth')
    assert read_checkpoint(current)['meta']['epoch'] == int(resumes_at)
    runner = run_pretrain(toy_config, work_dir, '--resume')
    assert resumed_from(runner) == [resumes_at]
    assert read_checkpoint(last_checkpoint(work_dir))['meta']['iter'] == 6


def test_resume_without_any_checkpoint_starts_over(toy_config, tmp_path):
    work_dir = str(tmp_path / 'work')
    os.makedirs(work_dir)
    runner = run_pretrain(toy_config, work_dir, '--resume',
                          '--cfg-options', 'train_cfg.max_epochs=1')
    assert resumed_from(runner) == []
    assert runner.iter == 2 and torch.isfinite(torch.tensor(runner.message_hub.get_scalar(
        'train/loss').current()))


def test_reading_a_checkpoint_keeps_the_resume_allow_list(tmp_path):
    """backbones.checkpoints.load.read_checkpoint once removed mmengine's types from torch's allow-list
    (a `safe_globals` context), so an init_cfg load followed by --resume failed in one process."""
    from mmengine.logging.history_buffer import HistoryBuffer
    from torch.serialization import get_safe_globals
    before = len(get_safe_globals())
    torch.save({'state_dict': {}}, tmp_path / 'a.pth')
    read_checkpoint(str(tmp_path / 'a.pth'))
    assert len(get_safe_globals()) == before and HistoryBuffer in get_safe_globals()
