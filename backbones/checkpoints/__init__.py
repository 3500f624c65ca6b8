"""Checkpoints of ConvNeXt V2: ``layouts`` (pure renamings between the official, FCMAE, timm,
mmpretrain, transformers and our names), ``load`` (the one strict loader ``init_cfg`` and every tool
use: files, folders, URLs, ``hf-hub:`` ids), ``files`` (safetensors, sharded index files, hub folders),
``download`` (the torch hub cache), ``hub`` (huggingface_hub's cache), ``released`` (the official
weights' URLs and hub ids), ``extract`` (FCMAE split, EMA/raw pick, verified atomic save) and
``export`` (the files timm, transformers, mmpretrain and the official code load). Imports ``engine``
and the model modules of ``backbones`` only.
"""
from .load import (CheckpointError, canonical_backbone_weights, infer_arch, load_canonical,
                   load_pretrained, read_checkpoint, state_dict_of, strip_module_prefix)

__all__ = ['CheckpointError', 'canonical_backbone_weights', 'infer_arch', 'load_canonical',
           'load_pretrained', 'read_checkpoint', 'state_dict_of', 'strip_module_prefix']
