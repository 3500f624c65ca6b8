"""Stage 1, FCMAE pretraining (paper §3, Table 8): the model, masking, data, synthetic images, the
reconstruction picture, configs/. Imports ``backbones`` and ``engine``. Importing it registers the
``FCMAE`` model, the ``UnlabeledImageFolder`` / ``OwnImageFolder`` datasets, the
``ChannelDataPreprocessor`` and the continuing hooks (``FreezeEncoderHook``,
``ReconstructionHook``) in mmengine's registries.
"""
import backbones  # noqa: F401  (ConvNeXtV2)
import engine  # noqa: F401  (the atomic checkpoint hook and the resume allow-list)

from .dataset import OwnImageFolder, UnlabeledImageFolder
from .fcmae import FCMAE
from .hooks import FreezeEncoderHook, ReconstructionHook
from .preprocessor import ChannelDataPreprocessor

__all__ = ['ChannelDataPreprocessor', 'FCMAE', 'FreezeEncoderHook', 'OwnImageFolder',
           'ReconstructionHook', 'UnlabeledImageFolder']
