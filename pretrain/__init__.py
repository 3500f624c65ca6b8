"""FCMAE pretraining of ConvNeXt V2 on mmengine's Runner (paper §3, Table 8).

Importing this package registers, in mmengine's registries: the ``FCMAE`` model (MODELS), the
``UnlabeledImageFolder`` dataset (DATASETS) and the crash-safe ``AtomicCheckpointHook`` (HOOKS).
Configs: ``custom_imports = dict(imports=['backbones', 'pretrain'], allow_failed_imports=False)``.
"""
import backbones  # noqa: F401  (ConvNeXtV2 and the resume allow-list)

from .checkpoint_hook import AtomicCheckpointHook
from .dataset import UnlabeledImageFolder
from .fcmae import FCMAE

__all__ = ['FCMAE', 'UnlabeledImageFolder', 'AtomicCheckpointHook']
