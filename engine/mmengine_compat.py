"""Let mmengine 0.10.7 resume its own checkpoints on torch >= 2.6, keeping ``weights_only=True``.

Since torch 2.6, ``torch.load`` unpickles only allow-listed globals. mmengine's checkpoints hold,
besides tensors and plain containers, the ``HistoryBuffer`` objects of its MessageHub (numpy
arrays inside) and, in their pickled state, the four built-in statistics functions referenced as
``getattr(HistoryBuffer, 'min')`` and so on. We allow-list exactly those types and, for ``getattr``,
a stand-in that resolves nothing but those four names: no blanket ``weights_only=False``.
"""
import argparse

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


def history_buffer_getattr(obj, name):
    """``getattr`` as mmengine checkpoints use it, and for nothing else."""
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(obj, name)
    raise RuntimeError(f'checkpoint asks for getattr({obj!r}, {name!r}), which is not allow-listed')


def _numpy_globals():
    core = getattr(np, '_core', None) or np.core
    dtype_classes = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith('DType')]
    return [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype,
            *dtype_classes]


def checkpoint_safe_globals():
    """The exact non-tensor types that mmengine, mmdet, mmseg and the official ConvNeXt V2 code
    write into checkpoints (the official one stores its argparse ``args``)."""
    return [HistoryBuffer, (history_buffer_getattr, 'builtins.getattr'), argparse.Namespace,
            *_numpy_globals()]


torch.serialization.add_safe_globals(checkpoint_safe_globals())
