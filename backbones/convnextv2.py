"""The ConvNeXt V2 backbone: one implementation for detection, segmentation, FCMAE and finetune.

Parameter names follow the official code (``downsample_layers.i``, ``stages.i.j.dwconv``, ...;
mmpretrain shares the stage/downsample names, not the block ones), which is what mmdet's and
mmseg's layer-decay rules parse. Other layouts (timm, mmpretrain, transformers) are converted by
``checkpoints.layouts``.
"""
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from .layers import Block, LayerNorm2d, VisiblePositions, downsample, stem
from .variants import resolve_arch


@MODELS.register_module()
class ConvNeXtV2(BaseModule):
    """ConvNeXt V2 (Woo et al., CVPR 2023) with the OpenMMLab backbone contract.

    Args:
        arch: a size name (atto, femto, pico, nano, tiny, base, large, huge) or
            ``dict(depths=[...], dims=[...])``.
        in_channels: input image channels.
        drop_path_rate: stochastic depth rate, growing linearly over all blocks.
        out_indices: stages whose features are returned.
        norm_out: add a LayerNorm ``norm{i}`` on each returned stage (detection/segmentation).
        frozen_stages: freeze the first ``frozen_stages`` stages with their downsample layers
            (mmpretrain's convention: 0 freezes nothing).
        with_cp: gradient checkpointing per block, to trade compute for memory on large sizes.
        sparse_mlp: with a ``visible`` mask, run each block's per-position MLP only at visible
            positions (gather -> LN/MLP/GRN -> scatter) instead of masked dense over all of them;
            numerically the same, about 1/(1 - mask ratio) less MLP work and memory.
        compile: run the dense forward (no ``visible`` mask) through ``torch.compile``: True, or
            a dict of ``torch.compile`` options (e.g. ``dict(mode='max-autotune')``). Parameter
            names and checkpoints stay those of the eager module; the masked FCMAE path stays eager.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH)`` loads any supported checkpoint
            layout (see ``backbones.checkpoints.load``); otherwise truncated-normal initialisation.
        pretrained: deprecated mmdet/mmseg spelling of ``init_cfg=dict(type='Pretrained',
            checkpoint=PATH)``; warns, and may not be combined with ``init_cfg``.
        use_grn, layer_scale_init_value, gap_before_final_norm: mmpretrain ``ConvNeXt`` keywords,
            accepted so that its config blocks work with only ``type`` changed. Only the values
            that describe ConvNeXt V2 (True, 0, False) are accepted; anything else is an error.
    """

    def __init__(self, arch='tiny', in_channels=3, drop_path_rate=0.0, out_indices=(0, 1, 2, 3),
                 norm_out=True, frozen_stages=0, with_cp=False, sparse_mlp=True, compile=False,
                 init_cfg=None, pretrained=None, use_grn=True, layer_scale_init_value=0.,
                 gap_before_final_norm=False):
        _check_mmpretrain_kwargs(use_grn, layer_scale_init_value, gap_before_final_norm)
        if pretrained is not None:
            if init_cfg is not None:
                raise ValueError('ConvNeXtV2: set either pretrained or init_cfg, not both '
                                 f'(pretrained={pretrained!r}, init_cfg={init_cfg!r})')
            warnings.warn('DeprecationWarning: pretrained is deprecated, please use "init_cfg" '
                          'instead', DeprecationWarning, stacklevel=2)
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        super().__init__(init_cfg=init_cfg)
        self.depths, self.dims = resolve_arch(arch)
        if not out_indices or any(not -4 <= i < 4 for i in out_indices):
            raise ValueError(f'out_indices must name stages 0..3, got {out_indices}')
        self.out_indices = tuple(sorted({i % 4 for i in out_indices}))
        if not 0 <= frozen_stages <= 4:
            raise ValueError(f'frozen_stages must be in 0..4, got {frozen_stages}')
        self.frozen_stages = frozen_stages
        self.with_cp = with_cp
        self.sparse_mlp = sparse_mlp
        self.norm_out = norm_out
        self.compile_options = _compile_options(compile)

        dims = self.dims
        self.downsample_layers = nn.ModuleList(
            [stem(in_channels, dims[0])] + [downsample(dims[i - 1], dims[i]) for i in range(1, 4)])
        total = sum(self.depths)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        self.stages = nn.ModuleList()
        for i, depth in enumerate(self.depths):
            first = sum(self.depths[:i])
            self.stages.append(nn.Sequential(
                *[Block(dims[i], drop_path=rates[first + j]) for j in range(depth)]))
        if norm_out:
            for i in self.out_indices:
                self.add_module(f'norm{i}', LayerNorm2d(dims[i]))
        self._freeze_stages()

    # -- initialisation -------------------------------------------------------------------------
    def init_weights(self):
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            from .checkpoints import load_pretrained
            load_pretrained(self, self.init_cfg['checkpoint'], prefix=self.init_cfg.get('prefix'))
            self._is_init = True
            return
        self.apply(_trunc_normal_init)
        self._is_init = True

    # -- forward --------------------------------------------------------------------------------
    def forward(self, x, visible=None):
        """Return the features of ``out_indices`` as a tuple of NCHW tensors.

        ``visible`` (N, 1, h, w), 1 = visible, 0 = removed, at any resolution that divides every
        stage's: masked (sparse) encoding for FCMAE, upsampled to each stage by repetition.
        """
        if visible is None and self.compile_options is not None:
            return _compiled_dense_forward(self.compile_options)(self, x)
        return self._forward(x, visible)

    def _forward(self, x, visible):
        outs = []
        for i in range(4):
            x = self._downsample(i, x, visible)
            stage_visible = None if visible is None else _resize_visible(visible, x.shape[-2:])
            if stage_visible is not None:
                x = x * stage_visible
            if stage_visible is not None and self.sparse_mlp:
                stage_visible = VisiblePositions.of(stage_visible)
            x = self._run_stage(self.stages[i], x, stage_visible)
            if i in self.out_indices:
                outs.append(getattr(self, f'norm{i}')(x) if self.norm_out else x)
        return tuple(outs)

    def _downsample(self, i, x, visible):
        if i == 0:
            return self.downsample_layers[0](x)
        norm, conv = self.downsample_layers[i]
        x = norm(x)
        if visible is not None:  # LayerNorm turns removed zeros into its bias: zero them again
            x = x * _resize_visible(visible, x.shape[-2:])
        return conv(x)

    def _run_stage(self, stage, x, visible):
        for block in stage:
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint(block, x, visible, use_reentrant=False)
            else:
                x = block(x, visible)
        return x

    # -- freezing -------------------------------------------------------------------------------
    def _freeze_stages(self):
        for i in range(self.frozen_stages):
            modules = [self.downsample_layers[i], self.stages[i]]
            if self.norm_out and i in self.out_indices:
                modules.append(getattr(self, f'norm{i}'))
            for module in modules:
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        return self


def _check_mmpretrain_kwargs(use_grn, layer_scale_init_value, gap_before_final_norm):
    if use_grn is not True:
        raise ValueError(f'ConvNeXtV2: use_grn={use_grn!r} is not supported: every ConvNeXt V2 '
                         'block has GRN; use use_grn=True (or mmpretrain.ConvNeXt for V1)')
    if layer_scale_init_value not in (0, None):
        raise ValueError(f'ConvNeXtV2: layer_scale_init_value={layer_scale_init_value!r} is not '
                         'supported: ConvNeXt V2 has no layer scale; use layer_scale_init_value=0')
    if gap_before_final_norm is not False:
        raise ValueError(f'ConvNeXtV2: gap_before_final_norm={gap_before_final_norm!r} is not '
                         'supported: the backbone returns NCHW feature maps with a norm{i} per '
                         'stage; use gap_before_final_norm=False')


def _compile_options(compile):
    if compile is False or compile is None:
        return None
    if compile is True:
        return {}
    if isinstance(compile, dict):
        return dict(compile)
    raise TypeError(f'compile must be True, False or a dict of torch.compile options, got {compile!r}')


def _dense_forward(model, x):
    return model._forward(x, None)


_COMPILED = {}


def _compiled_dense_forward(options):
    """One compiled function per set of options, shared by all instances (dynamo guards on the
    module it is given), kept out of the module so that deepcopy, pickling and state dicts see
    the plain eager module."""
    key = repr(sorted(options.items()))
    if key not in _COMPILED:
        _COMPILED[key] = torch.compile(_dense_forward, **options)
    return _COMPILED[key]


def _resize_visible(visible, size):
    """Nearest-neighbour resize of a {0,1} mask to ``size``; exact for integer upsampling."""
    if tuple(visible.shape[-2:]) == tuple(size):
        return visible
    return F.interpolate(visible.to(torch.float32), size=tuple(size), mode='nearest').to(visible.dtype)


def _trunc_normal_init(module):
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.LayerNorm, _BatchNorm)):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
