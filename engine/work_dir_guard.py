"""No run overwrites another: a work dir holds one run at a time, and outputs are not replaced
silently.

``claim_work_dir`` (called by the launchers, ``engine.launch.set_resume``, before the Runner is built)
refuses a fresh run into a work dir that already holds checkpoints (``*.pth`` or
``last_checkpoint``) unless ``--overwrite``, and takes ``<work_dir>/.run.lock`` (PID and host) so
that a second run into the same dir stops while the first is running. A lock left by a process
that died (same host, ``os.kill(pid, 0)`` fails) is taken over with a printed line. The lock is
released when the process exits (atexit) or when the returned lock is closed / leaves a ``with``.

``check_output_free`` is the same rule for the makers and writers of single outputs (synthetic
sets, ``tools/test.py --metrics-out``, ``tools/benchmark.py --out``): an existing one is replaced
only with ``--force``.
"""
import atexit
import glob
import os
import os.path as osp
import socket

LOCK_NAME = '.run.lock'
_RANK_VARIABLES = ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK')


class WorkDirError(Exception):
    """A one-line reason why a run may not use a work dir or replace an output."""


def existing_checkpoints(work_dir):
    """The checkpoint files directly in ``work_dir`` (``*.pth`` and ``last_checkpoint``)."""
    found = sorted(osp.basename(p) for p in glob.glob(osp.join(glob.escape(work_dir), '*.pth')))
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        found.append('last_checkpoint')
    return found


def _global_rank():
    for variable in _RANK_VARIABLES:
        if variable in os.environ:
            return int(os.environ[variable])
    return 0


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _read_lock(path):
    """(pid, host) of a lock file, or (None, None) when it cannot be read."""
    try:
        with open(path) as f:
            fields = dict(item.split('=', 1) for item in f.read().split() if '=' in item)
        return int(fields['pid']), fields.get('host', '')
    except (OSError, ValueError, KeyError):
        return None, None


class RunLock:
    """``<work_dir>/.run.lock`` held by this process; ``release()`` (or leaving ``with``) removes it."""

    def __init__(self, work_dir):
        self.path = osp.join(work_dir, LOCK_NAME)
        self.held = False

    def acquire(self):
        os.makedirs(osp.dirname(self.path) or '.', exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._judge_existing()
                continue
            with os.fdopen(fd, 'w') as f:
                f.write(f'pid={os.getpid()} host={socket.gethostname()}\n')
            self.held = True
            atexit.register(self.release)
            return self
        raise WorkDirError(f'could not take the run lock {self.path}')

    def check_free(self):
        """Raise ``WorkDirError`` when a live run holds the lock; True when a lock of this process
        or a stale one is there (``acquire`` replaces it). Changes nothing."""
        if not osp.exists(self.path):
            return False
        pid, host = _read_lock(self.path)
        here = socket.gethostname()
        if pid is not None and host == here and pid != os.getpid() and _pid_alive(pid):
            raise WorkDirError(f'another run (PID {pid}) is using {osp.dirname(self.path)}; wait '
                               f'for it or choose another --work-dir')
        if pid is not None and host != here:
            raise WorkDirError(f'another run (PID {pid} on {host}) holds {self.path}; wait for it, '
                               f'choose another --work-dir, or delete the lock if that run is gone')
        return True

    def _judge_existing(self):
        """Remove a stale lock (dead process on this host) or raise: another run holds it."""
        self.check_free()
        pid, host = _read_lock(self.path)
        if pid == os.getpid() and host == socket.gethostname():   # in-process reuse
            os.remove(self.path)
            return
        who = f'PID {pid}, no longer running' if pid is not None else 'unreadable'
        print(f'taking over the stale run lock {self.path} ({who})', flush=True)
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass

    def release(self):
        if not self.held:
            return
        self.held = False
        pid, _ = _read_lock(self.path)
        if pid == os.getpid():
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass

    close = release

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False


def claim_work_dir(work_dir, resume, overwrite=False):
    """Check that a run may use ``work_dir`` and lock it for this process; returns the lock
    (``None`` on ranks other than 0, which share rank 0's lock). Raises ``WorkDirError``: first for
    a live run holding the lock, then for checkpoints a fresh run would overwrite."""
    if _global_rank() == 0:
        RunLock(work_dir).check_free()
    if not resume and not overwrite:
        found = existing_checkpoints(work_dir)
        if found:
            from .messages import short_list
            raise WorkDirError(
                f'{work_dir} already holds checkpoints {short_list(found, 3)}: continue it with '
                f'--resume, start elsewhere with a new --work-dir, or pass --overwrite to insist')
    if _global_rank() != 0:
        return None
    return RunLock(work_dir).acquire()


def check_output_free(path, force, what='output'):
    """Refuse (``WorkDirError``) to replace an existing file or non-empty folder unless ``force``.
    True when something is there (and ``force`` allows replacing it)."""
    present = osp.isfile(path) or (osp.isdir(path) and bool(os.listdir(path)))
    if present and not force:
        raise WorkDirError(f'{what} {path} already exists; pass --force to replace it or choose '
                           f'another path')
    return present

