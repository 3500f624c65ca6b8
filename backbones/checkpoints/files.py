"""Weight files that are not torch pickles: safetensors, sharded index files and hub folders.

A hub folder is what ``save_pretrained`` of transformers, timm's hub export and a Hugging Face
snapshot hold: one of ``WEIGHT_FILES`` (a single file, or an ``*.index.json`` whose ``weight_map``
names the shards) next to a ``config.json`` that names the model. Reading a folder returns
``{'state_dict': weights, 'hub_config': config}``; the loader checks the size the config names
against the weights (``check_config``). Pickled ``.bin`` files are read by the caller's
``read_torch`` (the loader's ``weights_only`` reader).
"""
import json
import os
import os.path as osp

from engine.messages import first_line, short_list as short

from ..variants import ARCHS, arch_name
from .errors import CheckpointError

# In the order transformers and timm prefer them.
WEIGHT_FILES = ('model.safetensors', 'model.safetensors.index.json',
                'pytorch_model.bin', 'pytorch_model.bin.index.json')
CONFIG_FILE = 'config.json'


def is_weights_file(path):
    """A file this module reads (rather than torch.load)."""
    return str(path).endswith(('.safetensors', '.index.json'))


def weights_file_of(folder):
    """The weights file of a hub folder (the first of ``WEIGHT_FILES`` present)."""
    for name in WEIGHT_FILES:
        if osp.isfile(osp.join(folder, name)):
            return osp.join(folder, name)
    found = short(sorted(os.listdir(folder)))
    raise CheckpointError(f'{folder} is a folder without weights: expected one of '
                          f'{", ".join(WEIGHT_FILES)}, found {found}; pass the folder that '
                          'save_pretrained / the hub download wrote, or the weights file itself')


def read_folder(folder, read_torch):
    """``{'state_dict': ..., 'hub_config': config.json or None}`` of a hub folder."""
    weights = read_file(weights_file_of(folder), read_torch)
    return {'state_dict': weights, 'hub_config': read_config(folder)}


def read_file(path, read_torch):
    """The state dict of a ``.safetensors`` file, an index file (its shards) or a torch file."""
    if path.endswith('.index.json'):
        return _read_sharded(path, read_torch)
    if path.endswith('.safetensors'):
        return _read_safetensors(path)
    return read_torch(path)


def read_config(folder):
    path = osp.join(folder, CONFIG_FILE)
    if not osp.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as f:
            config = json.load(f)
    except (OSError, ValueError) as err:
        raise CheckpointError(f'cannot read {path}: {first_line(err)}; the folder is damaged - '
                              'download or save it again') from None
    if not isinstance(config, dict):
        raise CheckpointError(f'{path} holds a {type(config).__name__}, not a model config')
    return config


def config_arch(config):
    """(depths, dims) named by a transformers or timm ``config.json``; None when it names no size."""
    model_type = config.get('model_type')
    if model_type is not None:   # transformers: ConvNextV2Config
        if model_type != 'convnextv2':
            raise CheckpointError(f'config.json describes a transformers {model_type!r} model, not '
                                  "ConvNeXt V2 ('convnextv2')")
        if 'depths' in config and 'hidden_sizes' in config:
            return tuple(config['depths']), tuple(config['hidden_sizes'])
        return None
    architecture = str(config.get('architecture', ''))   # timm: convnextv2_<size>
    if architecture:
        size = architecture.split('.')[0]
        if not size.startswith('convnextv2_') or size[len('convnextv2_'):] not in ARCHS:
            raise CheckpointError(f'config.json describes timm {architecture!r}, not a ConvNeXt V2 '
                                  f'size (convnextv2_{{{",".join(ARCHS)}}})')
        spec = ARCHS[size[len('convnextv2_'):]]
        return tuple(spec['depths']), tuple(spec['dims'])
    return None


def check_config(config, found, source):
    """Refuse a hub folder whose ``config.json`` names another size than its weights have."""
    named = config_arch(config) if config else None
    if named is not None and found is not None and tuple(named) != tuple(found):
        raise CheckpointError(
            f'{source}: config.json says ConvNeXt V2-{arch_name(*named)} but the weights are '
            f'ConvNeXt V2-{arch_name(*found)}; the folder mixes two models - save or download it again')


def _read_safetensors(path):
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    if not osp.isfile(path):
        raise CheckpointError(f'checkpoint {path} does not exist; check the path')
    try:
        return load_file(path, device='cpu')
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f'cannot read checkpoint {path}: {first_line(err)}; the file is '
                              'corrupt, truncated or not safetensors - download or save it again') from None


def read_index(path):
    """(weight_map, sorted shard file names) of a sharded-checkpoint index file."""
    try:
        with open(path, encoding='utf-8') as f:
            weight_map = json.load(f)['weight_map']
        return weight_map, sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise CheckpointError(f'cannot read the index {path}: {first_line(err)}; expected a '
                              'sharded-checkpoint index with a weight_map') from None


def _read_sharded(path, read_torch):
    weight_map, shards = read_index(path)
    folder = osp.dirname(path)
    missing = [s for s in shards if not osp.isfile(osp.join(folder, s))]
    if missing:
        raise CheckpointError(f'{path} names shards that are not there: {short(missing)}; '
                              'download or copy the whole folder')
    weights = {}
    for shard in shards:
        weights.update(read_file(osp.join(folder, shard), read_torch))
    absent = [k for k in weight_map if k not in weights]
    if absent:
        raise CheckpointError(f'{path}: keys of its weight_map are in none of its shards: '
                              f'{short(absent)}; the folder mixes two saves - save it again')
    return weights

