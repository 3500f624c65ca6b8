"""Canonical ConvNeXt V2 weights -> the files each peer library loads (``export_backbone --format``).

* ``backbone`` / ``mmdet``: ours, ``{'state_dict': ...}`` (``mmdet``: ``backbone.``-prefixed);
* ``official``: ``{'model': ...}`` with the official names, as facebookresearch/ConvNeXt-V2 saves;
* ``mmpretrain``: an ImageClassifier checkpoint, ``{'state_dict': {'backbone.*', 'head.fc.*'}}``;
* ``timm``: a hub folder, ``model.safetensors`` + ``config.json`` (``architecture``, ``num_classes``,
  ``pretrained_cfg``) that ``timm.create_model(..., pretrained_cfg_overlay=dict(file=...))`` reads;
* ``hf``: a ``save_pretrained`` folder, ``model.safetensors`` + ``config.json`` of
  ``ConvNextV2ForImageClassification`` (with a head) or ``ConvNextV2Model``.

``extras`` are the non-backbone canonical keys of the source: the classifier's ``norm.``/``head.``
and detection output norms ``norm{i}``. Each format keeps those it has a place for; the others are
listed in the report. timm's model always has its final norm: without one in the source a fresh
one (weight 1, bias 0, as timm initialises it) is written, and the report says so.
"""
import json
import re

import torch

from .layouts import to_hf, to_mmpretrain, to_timm

FILE_FORMATS = ('backbone', 'official', 'mmpretrain', 'mmdet')
FOLDER_FORMATS = ('timm', 'hf')
EXPORT_FORMATS = FILE_FORMATS + FOLDER_FORMATS
WEIGHTS_NAME = 'model.safetensors'
_OUT_NORM = re.compile(r'^norm[0-3]\.')
# timm builds these sizes with conv_mlp=True: their MLPs are 1x1 convs (4-D weights)
TIMM_CONV_MLP = ('atto', 'femto', 'pico', 'nano')
# timm's pretrained_cfg of the ConvNeXt V2 ImageNet weights (timm/models/convnext.py _cfg)
_TIMM_DATA = dict(input_size=[3, 224, 224], pool_size=[7, 7], crop_pct=0.875, crop_mode='center',
                  interpolation='bicubic', mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225],
                  first_conv='stem.0', classifier='head.fc')


def export_weights(fmt, backbone, extras, size, depths, dims):
    """(object to torch.save, or {file name: content} of a folder; report lines) for ``fmt``."""
    kept, dropped = _pick(fmt, extras)
    weights = {**backbone, **kept}
    lines = [f'not written (no place for them in the {fmt} format): {", ".join(dropped)}'] if dropped else []
    if fmt == 'backbone':
        return {'state_dict': weights}, lines
    if fmt == 'mmdet':
        return {'state_dict': {f'backbone.{k}': v for k, v in weights.items()}}, lines
    if fmt == 'official':
        return {'model': weights}, lines
    if fmt == 'mmpretrain':
        mm = to_mmpretrain(weights)
        return {'state_dict': {k if k.startswith('head.') else f'backbone.{k}': v
                               for k, v in mm.items()}}, lines
    in_channels = backbone['downsample_layers.0.0.weight'].shape[1]
    classes = kept['head.weight'].shape[0] if 'head.weight' in kept else 0
    if fmt == 'timm':
        if 'norm.weight' not in weights:
            weights['norm.weight'] = torch.ones(dims[-1])
            weights['norm.bias'] = torch.zeros(dims[-1])
            lines.append('head.norm written fresh (weight 1, bias 0): the source has no final norm')
        config = _timm_config(size, classes, dims, in_channels)
        tensors = to_timm(weights, conv_mlp=size in TIMM_CONV_MLP)
    else:
        config = _hf_config(classes, depths, dims, in_channels)
        tensors = to_hf(weights, prefix='convnextv2.' if classes else '')
    return {WEIGHTS_NAME: {k: v.contiguous() for k, v in tensors.items()},
            'config.json': json.dumps(config, indent=2) + '\n'}, lines


def _pick(fmt, extras):
    """(extras the format keeps, names of the groups it drops)."""
    if fmt in ('backbone', 'mmdet'):
        keep = lambda k: False   # noqa: E731 - the det/seg init: output norms start fresh
    elif fmt == 'mmpretrain':
        keep = lambda k: not (k.startswith('norm.') and 'norm3.weight' in extras)  # noqa: E731
    else:
        keep = lambda k: not _OUT_NORM.match(k)  # noqa: E731
    kept = {k: v for k, v in extras.items() if keep(k)}
    dropped = sorted({k.split('.')[0] for k in extras if k not in kept})
    return kept, dropped


def _timm_config(size, classes, dims, in_channels):
    return dict(architecture=f'convnextv2_{size}', num_classes=classes, num_features=dims[-1],
                global_pool='avg', pretrained_cfg=dict(
                    tag='convnextv2_toolkit', custom_load=False, num_classes=classes,
                    **{**_TIMM_DATA, 'input_size': [in_channels, 224, 224]}))


def _hf_config(classes, depths, dims, in_channels):
    config = dict(model_type='convnextv2', depths=list(depths), hidden_sizes=list(dims),
                  num_channels=in_channels, num_stages=4, patch_size=4, hidden_act='gelu',
                  initializer_range=0.02, drop_path_rate=0.0, image_size=224,
                  layer_norm_eps=1e-6)   # the official final norm's eps (transformers' default: 1e-12)
    if classes:
        config['architectures'] = ['ConvNextV2ForImageClassification']
        config['id2label'] = {str(i): f'LABEL_{i}' for i in range(classes)}
        config['label2id'] = {f'LABEL_{i}': i for i in range(classes)}
    else:
        config['architectures'] = ['ConvNextV2Model']
    return config
