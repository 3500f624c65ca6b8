"""No run overwrites another: the work-dir guard (checkpoints, run lock) and the --force rule of
the synthetic-set makers, as unit tests and as real tool calls (non-zero exit, one short line)."""
import hashlib
import os
import socket
import subprocess
import sys

import pytest

from engine.work_dir_guard import LOCK_NAME, WorkDirError, check_output_free, claim_work_dir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _dead_pid():
    child = subprocess.Popen([sys.executable, '-c', 'pass'])
    child.wait(timeout=60)
    return child.pid


def test_existing_checkpoint_refuses_a_fresh_run(tmp_path):
    (tmp_path / 'epoch_1.pth').write_bytes(b'x')
    with pytest.raises(WorkDirError, match='--resume.*--work-dir.*--overwrite'):
        claim_work_dir(str(tmp_path), resume=False)
    assert not (tmp_path / LOCK_NAME).exists()


def test_last_checkpoint_refuses_and_overwrite_or_resume_proceed(tmp_path):
    (tmp_path / 'last_checkpoint').write_text('epoch_1.pth')
    with pytest.raises(WorkDirError):
        claim_work_dir(str(tmp_path), resume=False)
    with claim_work_dir(str(tmp_path), resume=False, overwrite=True):
        assert (tmp_path / LOCK_NAME).exists()
    assert not (tmp_path / LOCK_NAME).exists()   # released
    claim_work_dir(str(tmp_path), resume=True).release()


def test_live_lock_refuses_naming_the_pid(tmp_path):
    holder = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])
    try:
        (tmp_path / LOCK_NAME).write_text(f'pid={holder.pid} host={socket.gethostname()}\n')
        with pytest.raises(WorkDirError, match=f'PID {holder.pid}'):
            claim_work_dir(str(tmp_path), resume=False)
    finally:
        holder.kill()
        holder.wait(timeout=60)


def test_stale_lock_of_a_dead_pid_is_taken_over(tmp_path, capsys):
    pid = _dead_pid()
    (tmp_path / LOCK_NAME).write_text(f'pid={pid} host={socket.gethostname()}\n')
    lock = claim_work_dir(str(tmp_path), resume=False)
    assert 'taking over the stale run lock' in capsys.readouterr().out
    assert f'pid={os.getpid()}' in (tmp_path / LOCK_NAME).read_text()
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()


def test_lock_is_released_when_the_process_exits(tmp_path):
    code = ('from engine.work_dir_guard import claim_work_dir; import os, sys; '
            f'claim_work_dir({str(tmp_path)!r}, False); '
            f'sys.exit(0 if os.path.exists({str(tmp_path / LOCK_NAME)!r}) else 3)')
    subprocess.run([sys.executable, '-c', code], cwd=REPO, check=True, timeout=120)
    assert not (tmp_path / LOCK_NAME).exists()


def test_check_output_free(tmp_path):
    assert check_output_free(str(tmp_path / 'none.json'), force=False) is False
    (tmp_path / 'm.json').write_text('{}')
    with pytest.raises(WorkDirError, match='--force'):
        check_output_free(str(tmp_path / 'm.json'), force=False)
    assert check_output_free(str(tmp_path / 'm.json'), force=True) is True


def _hashes(root):
    return {os.path.relpath(os.path.join(d, f), root): hashlib.sha256(open(os.path.join(d, f), 'rb').read()).hexdigest()
            for d, _, files in os.walk(root) for f in files}


def _tool(*args):
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, 'PYTHONPATH': REPO}, timeout=300)


MAKERS = [
    ('coco', ['--train', '2', '--val', '1', '--size', '64']),
    ('ade20k', ['--train', '2', '--val', '1']),
    ('imagenet', ['--classes', '2', '--train', '2', '--val', '2', '--size', '16']),
    ('fcmae', ['--train', '2', '--size', '32']),
]
# the old spelling of each maker (one more release, with a FutureWarning): the same set, file for file
OLD_MAKERS = [
    ('coco', 'make_synthetic_coco.py', lambda out: [out, '--train', '2', '--val', '1', '--size', '64']),
    ('ade20k', 'make_synthetic_ade20k.py', lambda out: ['--out', out, '--train', '2', '--val', '1']),
    ('imagenet', 'make_synthetic_imagenet.py', lambda out: [out, '--classes', '2', '--train-per-class',
                                                            '1', '--val-per-class', '1', '--size', '16']),
    ('fcmae', 'make_synthetic_images.py', lambda out: [out, '--num', '2', '--size', '32']),
]


@pytest.mark.parametrize('kind,args', MAKERS, ids=[m[0] for m in MAKERS])
def test_makers_refuse_without_force_and_replace_with_it(tmp_path, kind, args):
    out = str(tmp_path / 'set')
    maker = ['tools/make_synthetic.py', kind, '--out', out, *args]
    first = _tool(*maker)
    assert first.returncode == 0, first.stderr[-2000:]
    before = _hashes(out)
    again = _tool(*maker, '--seed', '1')
    assert again.returncode != 0 and len(again.stderr.strip().splitlines()) <= 3, again.stderr
    assert '--force' in again.stderr and _hashes(out) == before
    forced = _tool(*maker, '--seed', '1', '--force')
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert _hashes(out) != before and set(_hashes(out)) == set(before)


@pytest.mark.parametrize('kind,old_tool,old_args', OLD_MAKERS, ids=[m[1] for m in OLD_MAKERS])
def test_old_maker_spellings_warn_and_write_the_same_set(tmp_path, kind, old_tool, old_args):
    old_out, new_out = str(tmp_path / 'old'), str(tmp_path / 'new')
    old = _tool(f'tools/{old_tool}', *old_args(old_out))
    assert old.returncode == 0, old.stderr[-2000:]
    assert 'FutureWarning' in old.stderr and f'make_synthetic.py {kind}' in old.stderr
    new = _tool('tools/make_synthetic.py', kind, '--out', new_out,
                *dict(MAKERS)[kind])
    assert new.returncode == 0 and 'Warning' not in new.stderr, new.stderr[-2000:]
    assert _hashes(old_out) == _hashes(new_out)
