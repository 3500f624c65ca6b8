"""Stage 1, FCMAE pretraining (paper §3, Table 8): the model, masking, data, synthetic images, the
reconstruction picture, configs/. Imports ``backbones`` and ``engine``. Importing it registers the
``FCMAE`` model and the ``UnlabeledImageFolder`` dataset in mmengine's registries.
"""
import backbones  # noqa: F401  (ConvNeXtV2)
import engine  # noqa: F401  (the atomic checkpoint hook and the resume allow-list)

from .dataset import UnlabeledImageFolder
from .fcmae import FCMAE

__all__ = ['FCMAE', 'UnlabeledImageFolder']
