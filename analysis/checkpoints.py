"""A ``ConvNeXtV2`` of whatever size a checkpoint holds, from any layout the project's loader reads
(official / toolkit, timm, dense or sparse FCMAE, a finetuned classifier, an mmdet or mmseg
checkpoint with ``backbone.`` keys, DDP ``module.`` keys). Errors are ``CheckpointError``s."""
import warnings

import torch

from backbones import ConvNeXtV2
from backbones.checkpoints import (CheckpointError, canonical_backbone_weights, infer_arch,
                                   load_canonical, read_checkpoint)
from backbones.variants import arch_name


def backbone_from_checkpoint(path, check_only=False):
    """(model in eval mode, one-line description of what was loaded).

    ``check_only``: build the model on the meta device (no memory, no weights): the checkpoint is
    still read and checked key by key and shape by shape, but the model returned is empty.
    """
    layout, state_dict = canonical_backbone_weights(read_checkpoint(path), path)
    found = infer_arch(state_dict)
    if found is None:
        raise CheckpointError(f'{path} has no ConvNeXt V2 stem/downsample weights; '
                              'is it a backbone checkpoint?')
    depths, dims = found
    in_channels = state_dict['downsample_layers.0.0.weight'].shape[1]
    with torch.device('meta' if check_only else 'cpu'):
        model = ConvNeXtV2(arch=dict(depths=depths, dims=dims), in_channels=in_channels,
                           norm_out=False, sparse_mlp=False)
    with warnings.catch_warnings():   # copying into meta tensors is the intended no-op
        warnings.simplefilter('ignore', UserWarning)
        report = load_canonical(model, state_dict, source=path)
    return model.eval(), f'ConvNeXt V2-{arch_name(depths, dims)}, {layout}; {report}'
