"""Checkpoint URLs: downloaded once into the torch hub cache, never left half-written there.

The cache is the one torch.hub and mmengine use, ``$TORCH_HOME/hub/checkpoints/<file name of the
URL>``, so a file either of them fetched is found here and the other way round. A download goes to
a temporary file in that folder (torch.hub's downloader, with its progress bar); the caller checks
it while it still has the temporary name, and only a file that passed gets the cache name, by an
atomic rename. A failed, interrupted or rejected download leaves nothing under the cache name.
"""
import http.client
import os
import tempfile
import urllib.error
from urllib.parse import urlparse

import torch.hub
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import print_log

from engine.atomic_io import atomic_replace
from engine.messages import first_line


class DownloadError(OSError):
    """The URL could not be fetched; the message is one line naming it and what to do."""


def is_url(checkpoint):
    return isinstance(checkpoint, str) and checkpoint.startswith(('http://', 'https://'))


def cache_path(url):
    """Where torch.hub / mmengine keep the file of ``url``."""
    return os.path.join(torch.hub.get_dir(), 'checkpoints', os.path.basename(urlparse(url).path))


def cached_file(url):
    """The cached file of ``url``, or None when it has not been downloaded yet."""
    path = cache_path(url)
    return path if os.path.isfile(path) else None


def open_url(url, use, progress=True):
    """Return ``use(path)`` for the local copy of ``url``, downloading it first if it is not cached.

    A fresh download is handed to ``use`` under its temporary name and enters the cache only if
    ``use`` returns; whatever ``use`` raises is passed on and the download is deleted. In a
    distributed run rank 0 downloads while the others wait, then they read the cache.
    """
    return rank_zero_first(lambda first: _open(url, use, progress and first))


def rank_zero_first(fetch):
    """``fetch(first)`` on rank 0 (``first=True``: it may download), then, after a barrier, on the
    other ranks (which find the cache filled); without a process group just ``fetch(True)``."""
    rank, world_size = get_dist_info()
    if rank == 0:
        result = fetch(True)
    if world_size > 1:
        barrier()
    if rank > 0:
        result = fetch(False)
    return result


def _open(url, use, progress):
    cached = cached_file(url)
    if cached:
        return use(cached)
    destination = cache_path(url)
    folder = os.path.dirname(destination)
    os.makedirs(folder, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=folder, prefix=f'.{os.path.basename(destination)}.',
                                   suffix='.download')
    os.close(fd)
    try:
        print_log(f'downloading {url} to {destination}', logger='current')
        _download(url, partial, progress)
        result = use(partial)
        atomic_replace(partial, destination)
        return result
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def _download(url, path, progress):
    by_hand = 'or download the file yourself and set init_cfg.checkpoint to its path'
    try:
        torch.hub.download_url_to_file(url, path, progress=progress)
    except urllib.error.HTTPError as err:
        raise DownloadError(f'cannot download {url}: HTTP {err.code} {err.reason}; nothing was '
                            'cached - check the URL (python tools/download_weights.py --list '
                            f'prints the released ones), {by_hand}') from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        reason = first_line(getattr(err, 'reason', None) or err)
        raise DownloadError(f'cannot download {url}: {reason}; nothing was cached - check the '
                            f'network connection and retry, {by_hand}') from None
