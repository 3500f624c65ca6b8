"""Read a checkpoint of any supported layout and load it into ``ConvNeXtV2``, loudly.

A checkpoint is a torch file, a ``.safetensors`` file, a sharded ``*.index.json``, a hub folder
(``save_pretrained``, timm's; its ``config.json`` is checked against the weights: ``files``), an
http(s) URL (cached by ``download``) or ``hf-hub:ORG/NAME[@REVISION]`` (cached by ``hub``); every
tool that takes a checkpoint reads it through ``read_checkpoint``.

Nothing is loaded partially in silence: the layout found, the keys dropped on purpose and the
layers left freshly initialised are logged; anything else (a missing block, an unknown key, a
shape mismatch, a checkpoint of another size) raises ``CheckpointError`` with one line that names
the problem and what to do.
"""
import os
import re
import warnings
import zipfile

import torch
from mmengine.logging import print_log

from engine import mmengine_compat  # noqa: F401  (allow-lists checkpoint types process-wide)
from engine.messages import short_list

from ..variants import arch_name
from .channels import STEM_WEIGHT, adapt_stem
from . import files
from .download import DownloadError, cache_path, is_url, open_url
from .errors import CheckpointError
from .hub import cache_folder, is_hub_id, open_hub, parse_hub_id
from .layouts import to_canonical

# Keys that checkpoints carry besides the backbone and that a backbone load drops on purpose.
FCMAE_ONLY = re.compile(r'^(decoder\.|mask_token$|proj\.|pred\.)')
CLASSIFIER_ONLY = re.compile(r'^(head\.|norm\.|fc_norm\.)')
_OUT_NORM = re.compile(r'^norm[0-3]\.')
# torch.load(weights_only=True): "Unsupported global: GLOBAL fractions.Fraction was not an allowed ..."
_REFUSED_GLOBAL = re.compile(r'Unsupported global: GLOBAL ([\w.]+)')


def read_checkpoint(path, name=None, mmap=False):
    """The checkpoint object of a file, a hub folder or an ``hf-hub:`` id (downloaded and checked
    first: ``read_hub``). Torch files: torch.load with ``weights_only=True`` (plus the few types
    real checkpoints hold); a folder gives ``{'state_dict': ..., 'hub_config': config.json}``.

    ``name`` stands for ``path`` in the messages (the URL of a file being downloaded). ``mmap``
    maps the tensors instead of reading them (a check before the Runner, which reads the file
    again, then costs no second copy in memory); files of torch's old format are read whole."""
    if is_hub_id(path):
        return read_hub(path)
    path = os.fspath(path)
    torch_reader = lambda p: _read_torch(p, name if p == path else None, mmap)  # noqa: E731
    if os.path.isdir(path):
        return files.read_folder(path, torch_reader)
    if files.is_weights_file(path):
        return files.read_file(path, torch_reader)
    return torch_reader(path)


def read_hub(hub_id):
    """The checkpoint object of an ``hf-hub:`` id; a fresh download enters the cache only after it
    was read and recognised as ConvNeXt V2 weights of the size its config.json names."""
    def check(folder, fresh):
        obj = read_checkpoint(folder)
        canonical_backbone_weights(obj, hub_id)
        return obj

    return _fetch_hub(hub_id, check)


def _read_torch(path, name, mmap):
    name = name or path
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint {name} does not exist; check the path (see README: '
                              'tools/convert_fcmae.py and tools/export_backbone.py make them)')
    try:
        # No `safe_globals` context here: on exit it removes its types from the process-wide
        # allow-list of mmengine_compat, and a later mmengine resume in the process then fails.
        if mmap and zipfile.is_zipfile(path):
            return torch.load(path, map_location='cpu', weights_only=True, mmap=True)
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure here means an unreadable file
        refused = _REFUSED_GLOBAL.search(str(err))
        if refused:   # a readable file holding a pickled object: the remedy is not a new download
            name = refused.group(1)
            raise CheckpointError(
                f'checkpoint {path} holds a pickled {name}, which a weights_only load refuses (it '
                f'could run code); if you trust the file, allow-list the type (torch.serialization.'
                f'add_safe_globals([{name}]), see engine/mmengine_compat.py), or convert the file to '
                f'plain tensors (torch.save of its state dict)') from None
        first = str(err).strip().splitlines()[0] if str(err).strip() else ''
        if not first or first.isdigit():   # e.g. torch's bare '101' for a text file
            first = f'{type(err).__name__} {first}'.strip()
        raise CheckpointError(f'cannot read checkpoint {name}: {first}; the file is corrupt, '
                              'truncated or not a PyTorch checkpoint - download or convert it again')


def state_dict_of(obj, path='<checkpoint>', prefer_ema=True):
    """The weights inside a checkpoint object, with the key they came from."""
    if not isinstance(obj, dict):
        raise CheckpointError(f'{path} holds a {type(obj).__name__}, not a state dict')
    keys = ['model_ema', 'model', 'state_dict'] if prefer_ema else ['model', 'model_ema', 'state_dict']
    for key in keys:
        if isinstance(obj.get(key), dict) and obj[key]:
            return obj[key], key
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, None
    raise CheckpointError(f'{path} has no weights: expected a state dict or a dict with one of '
                          f'{keys}, found keys {sorted(obj)[:8]}')


def canonical_backbone_weights(obj, path='<checkpoint>', prefix=None):
    """Return (layout description, canonical state dict) of a checkpoint object."""
    state_dict, container = state_dict_of(obj, path)
    state_dict = strip_module_prefix(state_dict)
    if prefix is None and any(k.startswith('backbone.') for k in state_dict):
        prefix = 'backbone.'   # a whole detector / segmentor / classifier checkpoint
    if prefix:
        state_dict = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
        if not state_dict:
            raise CheckpointError(f'{path} has no key starting with {prefix!r}')
    try:
        layout, canonical = to_canonical(state_dict, container)
    except ValueError as err:
        raise CheckpointError(f'{path}: {err}; is it a ConvNeXt V2 checkpoint?') from None
    files.check_config(obj.get('hub_config'), infer_arch(canonical), path)
    where = f"'{container}' of " if container else ''
    return f'{layout} ({where}{os.path.basename(path)})', canonical


def infer_arch(state_dict):
    """(depths, dims) of the canonical state dict, from its stem and block indices."""
    dims = []
    for i in range(4):
        weight = state_dict.get(f'downsample_layers.{i}.{0 if i == 0 else 1}.weight')
        if weight is None:
            return None
        dims.append(weight.shape[0])
    depths = []
    for i in range(4):
        blocks = {int(m.group(1)) for k in state_dict if (m := re.match(rf'stages\.{i}\.(\d+)\.', k))}
        depths.append(max(blocks) + 1 if blocks else 0)
    return tuple(depths), tuple(dims)


def load_pretrained(model, checkpoint, prefix=None, logger='current'):
    """Load a checkpoint of any supported layout into ``model`` (a ``ConvNeXtV2``).

    ``checkpoint``: a file, or an http(s) URL that is downloaded once into the torch hub cache
    (see ``download``); a download enters the cache only after it loaded strictly into ``model``.
    """
    if is_url(checkpoint):
        layout, report = _load_url(model, checkpoint, prefix)
        where = f' (cached as {cache_path(checkpoint)})'
    elif is_hub_id(checkpoint):
        (layout, report), folder = _fetch_hub(
            checkpoint, lambda folder, fresh: (_load_object(model, read_checkpoint(folder),
                                                            checkpoint, prefix), folder))
        where = f' (cached in {folder})'
    else:
        layout, report = _load_object(model, read_checkpoint(checkpoint), checkpoint, prefix)
        where = ''
    report = f'layout = {layout}; {report}'
    print_log(f'ConvNeXt V2: loaded {checkpoint}{where}: {report}', logger=logger)
    return report


def _load_object(model, obj, source, prefix):
    layout, state_dict = canonical_backbone_weights(obj, source, prefix)
    return layout, load_canonical(model, state_dict, source=source)


def _load_url(model, url, prefix):
    """(layout, report) of loading ``url``; any failure is one line naming the URL."""
    def load(path):
        fresh = path != cache_path(url)   # a download under its temporary name
        try:
            obj = read_checkpoint(path, name=url)
        except CheckpointError as err:
            if not fresh:
                raise CheckpointError(f'{err}; delete {path} to download it again') from None
            what = _what_arrived(path)
            if what is None:
                raise CheckpointError(f'{err}; nothing was cached') from None
            raise CheckpointError(f'{url} gave {what}; nothing was cached - check the URL and the '
                                  'network connection and retry') from None
        try:
            return _load_object(model, obj, url, prefix)
        except CheckpointError as err:
            if fresh:
                raise CheckpointError(f'{err}; nothing was cached') from None
            raise

    try:
        return open_url(url, load)
    except DownloadError as err:
        raise CheckpointError(str(err)) from None


def _fetch_hub(hub_id, use):
    """``use(folder)`` of a hub id; a failure on a fresh download says what arrived."""
    def checked(folder, fresh):
        try:
            return use(folder, fresh)
        except CheckpointError as err:
            if not fresh:
                raise CheckpointError(f'{err}; delete {cache_folder(parse_hub_id(hub_id))} to '
                                      'download it again') from None
            weights = files.weights_file_of(folder)
            what = _what_arrived(weights)
            if what:
                raise CheckpointError(f'{hub_id} gave {what} as {os.path.basename(weights)}; nothing '
                                      'was cached - check the repo name and HF_ENDPOINT') from None
            raise CheckpointError(f'{err}; nothing was cached') from None

    return open_hub(hub_id, checked)


def load_canonical(model, state_dict, source='<state dict>'):
    """Strictly load a canonical state dict; return a one-line report of what was left out."""
    found = infer_arch(state_dict)
    wanted = (tuple(model.depths), tuple(model.dims))
    if found is None:
        raise CheckpointError(f'{source} has no ConvNeXt V2 stem/downsample weights; '
                              'is it a backbone checkpoint?')
    if found != wanted:
        raise CheckpointError(
            f'{source} is ConvNeXt V2-{arch_name(*found)} but the model is '
            f'ConvNeXt V2-{arch_name(*wanted)}; use the config of that size or a checkpoint of this one')

    own = model.state_dict()
    try:   # RGB weights into a 1- or 4+-channel stem (channels.py: timm's rule)
        state_dict, stem_note = adapt_stem(state_dict, own[STEM_WEIGHT].shape[1])
    except ValueError as err:
        raise CheckpointError(f'{source}: {err}') from None
    dropped = sorted({_group(k) for k in state_dict if k not in own and _droppable(k)})
    unexpected = [k for k in state_dict if k not in own and not _droppable(k)]
    fresh = sorted({_group(k) for k in own if k not in state_dict and _OUT_NORM.match(k)})
    missing = [k for k in own if k not in state_dict and not _OUT_NORM.match(k)]
    loadable = {}
    mismatched = []
    for key, value in state_dict.items():
        if key not in own:
            continue
        if value.shape != own[key].shape:
            if value.numel() == own[key].numel() and '.grn.' in key:
                value = value.reshape(own[key].shape)
            else:
                mismatched.append(f'{key} {tuple(value.shape)} vs model {tuple(own[key].shape)}')
                continue
        loadable[key] = value
    problems = []
    if missing:
        problems.append(f'missing keys {short_list(missing)}')
    if unexpected:
        problems.append(f'unexpected keys {short_list(unexpected)}')
    if mismatched:
        problems.append(f'shape mismatches {short_list(mismatched)}')
    if problems:
        raise CheckpointError(f'{source} does not fit the backbone: {"; ".join(problems)}')
    model.load_state_dict(loadable, strict=False)
    return (f'dropped (not backbone): {", ".join(dropped) or "nothing"}; '
            f'freshly initialised: {", ".join(fresh) or "nothing"}'
            + (f'; {stem_note}' if stem_note else ''))


def check_fits(model, path, name=None, prefix=None):
    """Load checkpoint ``path`` strictly into ``model`` built on the meta device (a preflight: shapes
    and names only, nothing copied); return the load report, or raise ``CheckpointError``."""
    _, state_dict = canonical_backbone_weights(read_checkpoint(path, name, mmap=True), name or path,
                                               prefix)
    with warnings.catch_warnings():   # copying into meta tensors is the intended no-op
        warnings.simplefilter('ignore', UserWarning)
        return load_canonical(model, state_dict, source=name or path)


def _what_arrived(path):
    """What an unreadable download is, in a few words; None when the reader's message says it."""
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        head = f.read(512).lstrip().lower()
    if not size:
        return 'an empty file, not a checkpoint'
    if head.startswith(b'<') or b'<html' in head:
        return f'an HTML page ({size} bytes), not a checkpoint'
    if head.startswith(b'pk') and not zipfile.is_zipfile(path):   # torch.save's zip, end missing
        return f'an incomplete checkpoint ({size} bytes: the download was cut short)'
    return None


def strip_module_prefix(state_dict):
    """Drop the ``module.`` that DDP-wrapped models put in front of every key."""
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state_dict.items()}


def _droppable(key):
    return bool(FCMAE_ONLY.match(key) or CLASSIFIER_ONLY.match(key) or _OUT_NORM.match(key))


def _group(key):
    return key.split('.')[0]
