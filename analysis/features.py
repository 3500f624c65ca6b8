"""Hooks on the blocks of a ``ConvNeXtV2`` that hand each block's features to a callback.

Three taps per block (``backbones.layers.Block``, dense path):

* ``gelu``  - the MLP expansion output after GELU, before GRN (N, H, W, 4C): where the paper sees
  feature collapse (§3.3, Figures 3 and 4);
* ``grn``   - the same features after GRN (N, H, W, 4C);
* ``block`` - the output of the residual block (N, C, H, W): what Figure 7's selectivity uses.

Every callback gets ``(layer, tap, features)`` with the features as (N, H, W, channels), float32,
whatever dtype the model runs in, so statistics never accumulate in half precision.
"""
from contextlib import contextmanager
from typing import NamedTuple

import torch

TAPS = ('gelu', 'grn', 'block')


class Layer(NamedTuple):
    """One block: its name in the state dict, its stage and its position among all blocks."""
    name: str     # 'stages.2.5'
    stage: int
    index: int    # 0 .. number of blocks - 1, over all stages

    def normalised(self, total):
        """The layer index scaled to [0, 1] (Figure 4's x axis), so that sizes compare."""
        return self.index / max(total - 1, 1)


def blocks_of(model):
    """[(Layer, Block)] of a ``ConvNeXtV2`` in forward order."""
    blocks = []
    for stage_index, stage in enumerate(model.stages):
        for block_index, block in enumerate(stage):
            layer = Layer(f'stages.{stage_index}.{block_index}', stage_index, len(blocks))
            blocks.append((layer, block))
    return blocks


def as_channels_last(tensor, tap):
    """(N, H, W, C) float32 view of a tap's output."""
    if tensor.dim() != 4:
        raise RuntimeError(f'feature tap {tap!r} got a {tensor.dim()}-d tensor: the analyses run '
                           'the dense forward only (no visible mask)')
    if tap == 'block':   # NCHW
        tensor = tensor.permute(0, 2, 3, 1)
    return tensor.float()


@contextmanager
def tapped(model, callback, taps=TAPS, layers=None):
    """While inside, every dense forward of ``model`` calls ``callback(layer, tap, features)``.

    ``layers``: block names to tap (default all). The hooks are removed on exit, also on errors.
    """
    unknown = set(taps) - set(TAPS)
    if unknown:
        raise ValueError(f'unknown feature taps {sorted(unknown)}; choose from {TAPS}')
    handles = []

    def hook(layer, tap):
        def on_output(module, inputs, output):
            callback(layer, tap, as_channels_last(output, tap))
        return on_output

    modules = {'gelu': lambda block: block.act, 'grn': lambda block: block.grn,
               'block': lambda block: block}
    try:
        for layer, block in blocks_of(model):
            if layers is not None and layer.name not in layers:
                continue
            for tap in taps:
                handles.append(modules[tap](block).register_forward_hook(hook(layer, tap)))
        yield
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def capture(model, images, layer_name, tap):
    """The (N, H, W, channels) float32 features of one tap of one block for a batch of images."""
    names = [layer.name for layer, _ in blocks_of(model)]
    if layer_name not in names:
        raise ValueError(f'no block {layer_name!r}; this model has {names[0]} .. {names[-1]}')
    found = {}

    def keep(layer, tap_name, features):
        found['features'] = features

    with tapped(model, keep, taps=(tap,), layers={layer_name}):
        model(images)
    return found['features']
