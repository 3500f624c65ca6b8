"""timm's ConvNeXt V2 as an mmdet/mmseg backbone: the peer of the benchmark's det/seg rows.

Same contract as ``ConvNeXtV2`` (features of ``out_indices`` with a LayerNorm on each), so the
detector or segmentor around it is identical and only the backbone implementation differs.
"""
import timm
import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.registry import MODELS

from backbones.layers import LayerNorm2d


@MODELS.register_module()
class TimmConvNeXtV2(BaseModule):
    def __init__(self, arch='base', drop_path_rate=0.0, out_indices=(0, 1, 2, 3), init_cfg=None, **unused):
        super().__init__(init_cfg=None)
        self.body = timm.create_model(f'convnextv2_{arch}', features_only=True, out_indices=tuple(out_indices),
                                      drop_path_rate=drop_path_rate)
        self.norms = nn.ModuleList(LayerNorm2d(c) for c in self.body.feature_info.channels())

    def forward(self, x):
        return tuple(norm(feature) for norm, feature in zip(self.norms, self.body(x)))

