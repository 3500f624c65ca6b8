"""ConvNeXt V2 image classifier for the ImageNet finetune (paper Appendix A.2, Tables 9-13).

Backbone (last stage, no output norm) -> global average pool -> LayerNorm ``norm`` -> Linear
``head``, as in the official model, so the parameter names are ``backbone.*``, ``norm.*`` and
``head.*`` and the layer-decay constructor finds ``.backbone``. The head starts from a
truncated normal (std 0.02) scaled by ``head_init_scale`` (0.001 in every table of the paper).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.registry import MODELS
from timm.loss import SoftTargetCrossEntropy

from backbones import ConvNeXtV2
from backbones.checkpoints import (CheckpointError, canonical_backbone_weights, load_canonical,
                                   read_checkpoint, state_dict_of, strip_module_prefix)

# ImageNet mean/std in 0..255, RGB (the images are decoded as RGB).
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@MODELS.register_module()
class ConvNeXtV2Classifier(BaseModel):
    """ConvNeXt V2 classifier as an mmengine model.

    Args:
        arch: size name or ``dict(depths=..., dims=...)`` (see ``ConvNeXtV2``).
        num_classes: classes of the head.
        drop_path_rate: stochastic depth of the backbone.
        head_init_scale: the head's initial weights and bias are multiplied by this.
        label_smoothing: smoothing of the cross-entropy on hard labels; soft targets (mixup /
            cutmix, which carry their own smoothing) use timm's ``SoftTargetCrossEntropy``.
        pretrained: checkpoint of any layout ``backbones.checkpoints.load`` reads (converted FCMAE,
            official, timm, a classifier of this toolkit). The backbone must fit exactly; the
            final norm and the head are taken when present, and the head is re-initialised when
            its class count differs (e.g. IN-22K -> IN-1K).
        compile: the backbone's ``compile`` switch (``ConvNeXtV2``): True or torch.compile options.
        data_preprocessor: defaults to normalisation with the ImageNet mean/std.
    """

    def __init__(self, arch='atto', num_classes=1000, drop_path_rate=0.0, head_init_scale=0.001,
                 label_smoothing=0.0, pretrained=None, compile=False, data_preprocessor=None,
                 init_cfg=None):
        if data_preprocessor is None:
            data_preprocessor = dict(type='ImgDataPreprocessor', mean=IMAGENET_MEAN,
                                     std=IMAGENET_STD)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = ConvNeXtV2(arch, drop_path_rate=drop_path_rate, out_indices=(3,),
                                   norm_out=False, compile=compile)
        width = self.backbone.dims[-1]
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.head = nn.Linear(width, num_classes)
        self.num_classes = num_classes
        self.head_init_scale = head_init_scale
        self.label_smoothing = label_smoothing
        self.pretrained = pretrained
        self.soft_target_loss = SoftTargetCrossEntropy()

    # -- initialisation -------------------------------------------------------------------------
    def init_weights(self):
        self.backbone.init_weights()
        self.reset_head()
        if self.pretrained:
            load_classifier_weights(self, self.pretrained)
        self._is_init = True

    def reset_head(self):
        nn.init.ones_(self.norm.weight)
        nn.init.zeros_(self.norm.bias)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            self.head.weight.mul_(self.head_init_scale)
            self.head.bias.mul_(self.head_init_scale)

    # -- forward --------------------------------------------------------------------------------
    def forward(self, inputs, data_samples=None, mode='tensor'):
        """``data_samples`` are class indices (N,) or soft targets (N, num_classes)."""
        logits = self.head(self.norm(self.backbone(inputs)[0].mean(dim=(-2, -1))))
        if mode == 'tensor':
            return logits
        if mode == 'loss':
            return dict(loss=self.loss(logits, data_samples))
        if mode == 'predict':
            labels = [None] * len(logits) if data_samples is None else data_samples.tolist()
            return [dict(scores=row, gt_label=label) for row, label in zip(logits.detach(), labels)]
        raise ValueError(f'mode must be tensor, loss or predict, got {mode!r}')

    def loss(self, logits, targets):
        if targets is None:
            raise ValueError('training needs labels: the data batch has no data_samples')
        if targets.ndim == 2:
            return self.soft_target_loss(logits.float(), targets)
        return F.cross_entropy(logits.float(), targets, label_smoothing=self.label_smoothing)


def load_classifier_weights(model, path):
    """Load a checkpoint into ``model``: the backbone strictly, then the final norm and the head
    where the checkpoint has them and their shapes fit. Returns the one-line report it logs."""
    checkpoint = read_checkpoint(path)
    layout, canonical = canonical_backbone_weights(checkpoint, path)
    report = load_canonical(model.backbone, canonical, source=path)
    extras = _head_weights(checkpoint, canonical, path)
    notes = []
    if extras.get('norm.weight') is not None:
        _copy(model.norm, 'norm', extras, path)
        notes.append('final norm loaded')
    else:
        notes.append('final norm freshly initialised')
    head_weight = extras.get('head.weight')
    if head_weight is None:
        notes.append(f'head freshly initialised ({model.num_classes} classes)')
    elif head_weight.shape[1] != model.head.in_features:
        raise CheckpointError(f'{path}: head.weight has {head_weight.shape[1]} input features but '
                              f'the model has {model.head.in_features}; it is another size')
    elif head_weight.shape[0] != model.num_classes:
        notes.append(f'head re-initialised: checkpoint has {head_weight.shape[0]} classes, '
                     f'model has {model.num_classes}')
    else:
        _copy(model.head, 'head', extras, path)
        notes.append(f'head loaded ({model.num_classes} classes)')
    message = f'classifier: loaded {path}: layout = {layout}; {report}; {"; ".join(notes)}'
    print_log(message, logger='current')
    return message


def _is_head(key):
    return key.startswith(('norm.', 'head.'))


def _head_weights(checkpoint, canonical, path):
    """``norm.*`` / ``head.*`` of the checkpoint: from the converted layout (official, timm) or,
    for a ``backbone.``-prefixed checkpoint of this toolkit, from its top level."""
    extras = {k: v for k, v in canonical.items() if _is_head(k)}
    if not extras:
        raw, _ = state_dict_of(checkpoint, path)
        raw = strip_module_prefix(raw)
        extras = {k: v for k, v in raw.items() if _is_head(k)}
    return extras


def _copy(module, name, extras, path):
    own = module.state_dict()
    for key, target in own.items():
        value = extras.get(f'{name}.{key}')
        if value is None or value.shape != target.shape:
            found = 'missing' if value is None else f'shape {tuple(value.shape)}'
            raise CheckpointError(f'{path}: {name}.{key} is {found}, the model needs '
                                  f'{tuple(target.shape)}; is it a checkpoint of this size?')
    module.load_state_dict({k: extras[f'{name}.{k}'] for k in own})

