"""Write files so that a reader never sees a half-written one, even if the writer is killed.

Each writer goes to a temporary file in the destination's directory, is flushed to disk, and is
then renamed over the destination with ``os.replace`` (atomic on POSIX and Windows within one
file system). A kill at any moment leaves either the old file or the new one, plus at worst a
stray ``.<name>.tmp-*`` file that nothing reads.
"""
import io
import os
import tempfile

import torch


def atomic_write_bytes(data, path):
    """Write ``data`` (bytes) to ``path`` atomically."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f'.{os.path.basename(path)}.tmp-')
    try:
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    fsync_dir(directory)


def atomic_write_text(text, path):
    atomic_write_bytes(text.encode('utf-8'), path)


def atomic_save(obj, path):
    """``torch.save(obj, path)``, atomically."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(buffer.getvalue(), path)


def atomic_replace(src, dst):
    """Flush the finished file ``src`` to disk and rename it to ``dst``."""
    with open(src, 'rb') as f:
        os.fsync(f.fileno())
    os.replace(src, dst)
    fsync_dir(os.path.dirname(os.path.abspath(dst)))


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(directory):
    """Make a rename in ``directory`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
