"""``hf-hub:ORG/NAME[@REVISION]`` checkpoints, fetched with huggingface_hub into its cache.

The cache is huggingface_hub's own (``$HF_HOME/hub``, shared with timm and transformers), and so
are its rules: ``HF_ENDPOINT``, ``HF_TOKEN`` / ``hf auth login`` for gated repos, ``HF_HUB_OFFLINE=1``,
resumed downloads. A repo whose weights are in the cache for the revision asked is used with no
request at all (pin ``@REVISION`` or delete the cached repo to pick up a newer upload). Otherwise
``config.json`` and the first of ``files.WEIGHT_FILES`` the repo has (with its shards) are
downloaded and handed to the caller's check while the cache is being filled; if the check or the
download fails, every file this download added to the cache is removed again. In a distributed
run rank 0 downloads first, as for URLs.
"""
import os
import os.path as osp
import re
import shutil
from typing import NamedTuple

from mmengine.logging import print_log

from engine.messages import first_line

from .download import rank_zero_first
from .errors import CheckpointError
from .files import CONFIG_FILE, WEIGHT_FILES, read_index

PREFIX = 'hf-hub:'
_REPO = re.compile(r'^[\w.-]+/[\w.-]+$')


class HubId(NamedTuple):
    repo_id: str
    revision: str

    def __str__(self):
        return PREFIX + self.repo_id + ('' if self.revision == 'main' else f'@{self.revision}')


def is_hub_id(checkpoint):
    return isinstance(checkpoint, str) and checkpoint.startswith(PREFIX)


def parse_hub_id(checkpoint):
    """``hf-hub:ORG/NAME[@REVISION]`` -> HubId; a malformed id is a one-line CheckpointError."""
    repo_id, _, revision = checkpoint[len(PREFIX):].partition('@')
    if not _REPO.match(repo_id) or (_ and not revision):
        raise CheckpointError(f'{checkpoint!r} is not a hub id: write hf-hub:ORG/NAME or '
                              'hf-hub:ORG/NAME@REVISION, e.g. hf-hub:timm/convnextv2_tiny.fcmae_ft_in1k')
    return HubId(repo_id, revision or 'main')


def open_hub(checkpoint, use):
    """``use(folder, fresh)`` for the cached snapshot folder of hub id ``checkpoint``, downloading it
    first when it is not cached (``fresh=True``); a failed download or a ``use`` that raises on a
    fresh download leaves nothing new in the cache."""
    hub_id = parse_hub_id(checkpoint)
    return rank_zero_first(lambda first: _open(hub_id, use))


def cached_folder(checkpoint):
    """The snapshot folder holding the weights of ``checkpoint`` in the cache, or None."""
    from huggingface_hub import try_to_load_from_cache
    hub_id = parse_hub_id(checkpoint)
    for name in WEIGHT_FILES:
        path = try_to_load_from_cache(hub_id.repo_id, name, revision=hub_id.revision)
        if isinstance(path, str):
            folder = osp.dirname(path)
            return folder if _shards_present(path, folder) else None
    return None


def cache_folder(hub_id):
    """Where huggingface_hub keeps the files of a model repo."""
    from huggingface_hub import constants
    return osp.join(constants.HF_HUB_CACHE, 'models--' + hub_id.repo_id.replace('/', '--'))


def _open(hub_id, use):
    folder = cached_folder(str(hub_id))
    if folder:
        return use(folder, False)
    from huggingface_hub import constants
    if constants.HF_HUB_OFFLINE:
        raise CheckpointError(f'{hub_id} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) '
                              'and HF_HUB_OFFLINE=1 forbids downloading it: run once without '
                              'HF_HUB_OFFLINE (or with the HF_HOME that holds it)')
    repo = cache_folder(hub_id)
    before = _files_under(repo)
    try:
        print_log(f'downloading {hub_id} into {repo}', logger='current')
        return use(_download(hub_id), True)
    except BaseException:
        _remove_new(repo, before)
        raise


def _download(hub_id):
    """Fetch config.json and the weights (all shards) of one commit; return the snapshot folder."""
    config = _fetch(hub_id, hub_id.revision, CONFIG_FILE)
    commit = osp.basename(osp.dirname(config)) if config else hub_id.revision
    for name in WEIGHT_FILES:
        path = _fetch(hub_id, commit, name)
        if path is None:
            continue
        if name.endswith('.index.json'):
            for shard in _shard_names(path):
                if _fetch(hub_id, commit, shard) is None:
                    raise CheckpointError(f'{hub_id}: {name} names the shard {shard}, which the repo '
                                          'does not have; nothing was cached')
        return osp.dirname(path)
    raise CheckpointError(f'{hub_id} has no weights file (looked for {", ".join(WEIGHT_FILES)}); '
                          'nothing was cached - is it a ConvNeXt V2 model repo (e.g. '
                          'timm/convnextv2_tiny.fcmae_ft_in1k, facebook/convnextv2-tiny-1k-224)?')


def _fetch(hub_id, revision, filename):
    """The cached path of ``filename``, None when the repo has no such file; other failures raise
    a one-line CheckpointError."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub import errors
    try:
        return hf_hub_download(hub_id.repo_id, filename, revision=revision)
    except errors.GatedRepoError:
        raise CheckpointError(f'{hub_id} is gated: accept its terms on the hub page, then log in '
                              '(hf auth login) or set HF_TOKEN; nothing was cached') from None
    except errors.RepositoryNotFoundError:
        raise CheckpointError(f'{hub_id}: no such repo on {_endpoint()} (or it is private: log in '
                              'with hf auth login or set HF_TOKEN); check the name, e.g. '
                              'hf-hub:timm/convnextv2_tiny.fcmae_ft_in1k') from None
    except errors.RevisionNotFoundError:
        raise CheckpointError(f'{hub_id}: the repo has no revision {hub_id.revision!r}; use a '
                              'branch, tag or commit it has, or leave @REVISION out') from None
    except errors.EntryNotFoundError:
        return None
    except errors.HfHubHTTPError as err:
        status = getattr(getattr(err, 'response', None), 'status_code', None)
        if status == 404:   # a mirror that answers a plain 404 for a missing file
            return None
        raise CheckpointError(f'cannot download {filename} of {hub_id}: {first_line(err)}; nothing '
                              'was cached - check the network and retry') from None
    except (errors.LocalEntryNotFoundError, OSError, ValueError) as err:
        raise CheckpointError(f'cannot download {filename} of {hub_id} from {_endpoint()}: '
                              f'{first_line(err)}; nothing was cached - check the network (and '
                              'HF_ENDPOINT) and retry') from None


def _shard_names(index_path):
    return read_index(index_path)[1]


def _shards_present(path, folder):
    if not path.endswith('.index.json'):
        return True
    try:
        return all(osp.isfile(osp.join(folder, s)) for s in _shard_names(path))
    except CheckpointError:
        return False


def _files_under(folder):
    found = set()
    for root, dirs, files in os.walk(folder):
        found.update(osp.join(root, name) for name in dirs + files)
    return found


def _remove_new(repo, before):
    """Remove what appeared under the repo's cache folder since ``before`` (the whole folder when
    this download made it)."""
    if not before:
        shutil.rmtree(repo, ignore_errors=True)
        return
    for path in sorted(_files_under(repo) - before, key=len, reverse=True):
        if osp.islink(path) or osp.isfile(path):
            os.remove(path)
        elif osp.isdir(path):
            shutil.rmtree(path, ignore_errors=True)


def _endpoint():
    from huggingface_hub import constants
    return constants.ENDPOINT

