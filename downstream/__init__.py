"""What the det/seg configs and launchers use around mmdet and mmseg: the preflight checks, ADE20K
data checks and pipeline builder, synthetic COCO / ADE20K sets, the complexity count.
Imports ``backbones`` and ``engine``. Importing it registers the ConvNeXt V2 backbone.
"""
import backbones  # noqa: F401
import engine  # noqa: F401
