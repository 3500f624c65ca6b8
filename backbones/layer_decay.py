"""Layer-wise learning-rate decay for ConvNeXt V2 in mmdet, mmseg and the finetune configs.

Both strategies of the paper (Appendix A.2):

* ``layer_wise``: every block its own id (the official ``get_num_layer_for_convnext_single``):
  downsample layer of stage i -> sum(depths[:i]) + 1, block j of stage i -> sum(depths[:i]) + j + 1,
  everything outside the backbone -> sum(depths) + 1. Used for the small sizes.
* ``group_wise``: three sequential blocks share one id (ConvNeXt V1's rule, used for base, large
  and huge); this is the rule that mmdet/mmseg ship under the name ``layer_wise``, so we reuse
  their ``get_layer_id_for_convnext`` for it, with the id range derived from the real depths.
* ``stage_wise``: one id per stage (mmdet's/mmseg's ``get_stage_id_for_convnext``).

Parameter group lr = base lr * decay_rate ** (num_layers - 1 - layer_id). Norm weights, biases
and the GRN gamma/beta get no weight decay.
"""
import json

from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

from engine.optional_imports import import_required

# build on mmdet's constructor: it already knows ConvNeXt names
_mmdet_layer_decay = import_required('mmdet.engine.optimizers.layer_decay_optimizer_constructor')
_Base = _mmdet_layer_decay.LearningRateDecayOptimizerConstructor
get_layer_id_for_convnext = _mmdet_layer_decay.get_layer_id_for_convnext
get_stage_id_for_convnext = _mmdet_layer_decay.get_stage_id_for_convnext

DECAY_TYPES = ('layer_wise', 'group_wise', 'stage_wise')


def block_layer_id(name, depths):
    """Per-block id of a parameter name (``backbone.``-prefixed); the paper's layer-wise rule."""
    parts = name.split('.')
    if parts[0] == 'backbone' and parts[1] in ('downsample_layers', 'stages'):
        stage = int(parts[2])
        if parts[1] == 'downsample_layers':
            return sum(depths[:stage]) + 1
        return sum(depths[:stage]) + int(parts[3]) + 1
    return sum(depths) + 1


def group_layer_id(name, depths):
    """Group-wise id (three blocks share one) of a ``backbone.``-prefixed name."""
    return get_layer_id_for_convnext(name, group_count(depths))


def group_count(depths):
    """Number of backbone ids under the group-wise rule (12 for depths 3/3/27/3)."""
    return 3 + -(-depths[2] // 3)


def layer_id_rule(decay_type, depths):
    """(function name -> layer id, num_layers) for a decay type and backbone depths."""
    if decay_type == 'layer_wise':
        return (lambda name: block_layer_id(name, depths)), sum(depths) + 2
    if decay_type == 'group_wise':
        return (lambda name: group_layer_id(name, depths)), group_count(depths) + 2
    if decay_type == 'stage_wise':
        return (lambda name: get_stage_id_for_convnext(name, 6)), 6
    raise ValueError(f'decay_type must be one of {DECAY_TYPES}, got {decay_type!r}')


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ConvNeXtV2LayerDecayOptimizerConstructor(_Base):
    """``paramwise_cfg=dict(decay_rate=0.9, decay_type='layer_wise' | 'group_wise' | 'stage_wise')``.

    The model must have a ``backbone`` that is a ``ConvNeXtV2``; ids come from its real depths, so
    no ``num_layers`` is needed (one given is checked against them).
    """

    def add_params(self, params, module, **kwargs):
        backbone = getattr(module, 'backbone', None)
        if backbone is None or not hasattr(backbone, 'depths'):
            raise TypeError(f'{type(self).__name__} needs a model whose .backbone is ConvNeXtV2, '
                            f'got {type(module).__name__}')
        decay_rate = self.paramwise_cfg.get('decay_rate', 1.0)
        decay_type = self.paramwise_cfg.get('decay_type', 'layer_wise')
        layer_id, num_layers = layer_id_rule(decay_type, backbone.depths)
        given = self.paramwise_cfg.get('num_layers')
        if given is not None and given + 2 != num_layers:
            raise ValueError(f'paramwise_cfg num_layers={given} does not match {decay_type} on depths '
                             f'{backbone.depths} ({num_layers - 2}); drop num_layers, it is derived')

        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            no_decay = param.ndim == 1 or name.endswith('.bias') or '.grn.' in name
            lid = layer_id(name)
            key = f'layer_{lid}_{"no_decay" if no_decay else "decay"}'
            if key not in groups:
                scale = decay_rate ** (num_layers - 1 - lid)
                groups[key] = dict(params=[], param_names=[], lr=self.base_lr * scale, lr_scale=scale,
                                   weight_decay=0.0 if no_decay else self.base_wd, group_name=key)
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)

        if get_dist_info()[0] == 0:
            summary = {k: dict(lr_scale=g['lr_scale'], weight_decay=g['weight_decay'],
                               params=len(g['params'])) for k, g in groups.items()}
            print_log(f'layer decay {decay_type} rate {decay_rate}, {num_layers} ids: '
                      f'{json.dumps(summary)}', logger='current')
        params.extend(groups.values())
