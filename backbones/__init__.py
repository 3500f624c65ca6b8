"""ConvNeXt V2 for MMDetection, MMSegmentation, FCMAE pretraining and ImageNet finetune.

Importing this package registers the backbone and the layer-decay optimizer constructor in
mmengine's, mmdet's and mmseg's registries (``custom_imports=dict(imports=['backbones'])``).
"""
from . import mmengine_compat  # noqa: F401  (resume on torch >= 2.6)
from .convnextv2 import ConvNeXtV2
from .layers import GRN, Block, LayerNorm2d
from .variants import ARCHS, resolve_arch
from .registration import register_all
from .classifier import ConvNeXtV2Classifier  # noqa: F401  (registers the finetune classifier)

register_all()

__all__ = ['ConvNeXtV2', 'GRN', 'Block', 'LayerNorm2d', 'ARCHS', 'resolve_arch']
