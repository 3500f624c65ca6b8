"""Checkpoints of ConvNeXt V2: ``layouts`` (pure renamings between the official, timm, FCMAE and our
names), ``load`` (the one strict loader ``init_cfg`` uses, files and URLs), ``download`` (the torch hub
cache), ``released`` (the official weights' URLs) and ``extract`` (FCMAE split, EMA/raw pick,
verified atomic save). Imports ``engine`` and the model modules of ``backbones`` only.
"""
from .load import (CheckpointError, canonical_backbone_weights, infer_arch, load_canonical,
                   load_pretrained, read_checkpoint, state_dict_of, strip_module_prefix)

__all__ = ['CheckpointError', 'canonical_backbone_weights', 'infer_arch', 'load_canonical',
           'load_pretrained', 'read_checkpoint', 'state_dict_of', 'strip_module_prefix']
