"""A ``ConvNeXtV2`` of whatever size a checkpoint holds, from any layout the project's loader reads
(official / toolkit, timm, dense or sparse FCMAE, a finetuned classifier, an mmdet or mmseg
checkpoint with ``backbone.`` keys, DDP ``module.`` keys). Errors are ``CheckpointError``s."""
import warnings

from backbones.checkpoints import canonical_backbone_weights, load_canonical, read_checkpoint
from backbones.checkpoints.extract import backbone_of_size
from backbones.variants import arch_name


def backbone_from_checkpoint(path, check_only=False):
    """(model in eval mode, one-line description of what was loaded).

    ``check_only``: build the model on the meta device (no memory, no weights): the checkpoint is
    still read and checked key by key and shape by shape, but the model returned is empty.
    """
    layout, state_dict = canonical_backbone_weights(read_checkpoint(path), path)
    model = backbone_of_size(state_dict, path, device='meta' if check_only else None,
                             sparse_mlp=False)
    with warnings.catch_warnings():   # copying into meta tensors is the intended no-op
        warnings.simplefilter('ignore', UserWarning)
        report = load_canonical(model, state_dict, source=path)
    return model.eval(), f'ConvNeXt V2-{arch_name(model.depths, model.dims)}, {layout}; {report}'
