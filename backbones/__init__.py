"""The one ConvNeXt V2: GRN, blocks, the eight sizes, layer decay and ``checkpoints/`` (layouts,
the strict loader, extraction). Importing it registers ``ConvNeXtV2`` and the layer-decay
constructor in mmengine's root registries, where mmdet's and mmseg's (its children) find them.
Imports ``engine`` only.
"""
from engine import mmengine_compat  # noqa: F401  (resume on torch >= 2.6)

from .convnextv2 import ConvNeXtV2
from .layers import GRN, Block, LayerNorm2d
from .layer_decay import ConvNeXtV2LayerDecayOptimizerConstructor
from .variants import ARCHS, resolve_arch

__all__ = ['ConvNeXtV2', 'ConvNeXtV2LayerDecayOptimizerConstructor', 'GRN', 'Block', 'LayerNorm2d', 'ARCHS', 'resolve_arch']
