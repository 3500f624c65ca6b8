"""FCMAE, the fully convolutional masked autoencoder of ConvNeXt V2 (paper §3, Figure 2, Table 1).

Encoder: the project's one ``ConvNeXtV2``, run with its ``visible`` mask (masked dense convolution,
numerically the same as the paper's submanifold sparse convolution). Decoder: ``proj`` (1x1 conv to
the decoder width), a mask token at removed positions, ``decoder_depth`` ConvNeXt V2 blocks and
``pred``, a 1x1 conv to the 32 * 32 * 3 pixels of each patch. Parameter names are those of the
official code (``encoder.*``, ``proj``, ``mask_token``, ``decoder.*``, ``pred``), so our checkpoints
are the dense FCMAE layout that ``backbones.checkpoints.load`` reads.
"""
import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.registry import MODELS

from backbones.convnextv2 import ConvNeXtV2
from backbones.layers import Block

from .masking import patch_grid, patchify, random_removed_patches


@MODELS.register_module()
class FCMAE(BaseModel):
    """FCMAE pretraining model.

    Args:
        arch: ConvNeXt V2 size name or ``dict(depths=..., dims=...)``.
        in_channels: image channels.
        decoder_dim: decoder width (paper: 512).
        decoder_depth: number of decoder blocks (paper: 1).
        mask_ratio: fraction of 32x32 patches removed (paper: 0.6); see ``num_removed``.
        norm_pix_loss: regress per-patch normalised pixels (paper, MAE) rather than raw ones.
        with_cp: gradient checkpointing in the encoder blocks.
        data_preprocessor: mmengine data preprocessor config (normalisation, device transfer).
        encoder_init: continue from pretrained weights: ``dict(type='Pretrained', checkpoint=PATH
            or URL, prefix=None)`` (or the path alone) initialises the encoder through the
            backbone's loader (every layout it reads; RGB weights adapted to ``in_channels``);
            ``proj``, the mask token, the decoder and ``pred`` start fresh (released files hold
            none). None: everything from scratch.
    """

    patch_size = 32

    def __init__(self, arch='base', in_channels=3, decoder_dim=512, decoder_depth=1,
                 mask_ratio=0.6, norm_pix_loss=True, with_cp=False, data_preprocessor=None,
                 encoder_init=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.in_channels = in_channels
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        self.encoder_init = pretrained_init_cfg(encoder_init)
        self.encoder = ConvNeXtV2(arch, in_channels=in_channels, out_indices=(3,), norm_out=False,
                                  with_cp=with_cp, init_cfg=self.encoder_init)
        self.proj = nn.Conv2d(self.encoder.dims[-1], decoder_dim, kernel_size=1)
        self.mask_token = nn.Parameter(torch.zeros(1, decoder_dim, 1, 1))
        self.decoder = nn.Sequential(*[Block(decoder_dim) for _ in range(decoder_depth)])
        self.pred = nn.Conv2d(decoder_dim, self.patch_size ** 2 * in_channels, kernel_size=1)
        self._init_decoder()

    def init_weights(self):
        super().init_weights()   # the encoder: truncated normal, or its encoder_init checkpoint
        self._init_decoder()
        if self.encoder_init:
            print_log(f'FCMAE: encoder initialised from {self.encoder_init["checkpoint"]}; proj, '
                      'mask_token, decoder and pred start fresh', logger='current')

    def _init_decoder(self):
        for module in [self.proj, self.pred, *self.decoder.modules()]:
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, inputs, mask_ratio=None, removed=None, mode='tensor', data_samples=None):
        """Return ``(loss, pred, removed)``, or ``dict(loss=loss)`` when mmengine asks ``mode='loss'``.

        inputs: (N, C, H, W) normalised images, H and W multiples of 32.
        removed: optional (N, L) per-patch map, 1 = removed; drawn at random with ``mask_ratio``
            (default ``self.mask_ratio``) when not given.
        pred: (N, L, 32 * 32 * C) predicted (normalised) pixels of every patch, row-major.
        """
        grid = patch_grid(inputs, self.patch_size)
        if removed is None:
            ratio = self.mask_ratio if mask_ratio is None else mask_ratio
            removed = random_removed_patches(inputs.shape[0], grid, ratio, device=inputs.device)
        latent = self.forward_encoder(inputs, removed, grid)
        pred = self.forward_decoder(latent, removed, grid)
        loss = self.forward_loss(inputs, pred, removed)
        if mode == 'loss':
            return dict(loss=loss)
        if mode in ('tensor', 'predict'):
            return loss, pred, removed
        raise ValueError(f'FCMAE.forward: unknown mode {mode!r}; use "loss", "tensor" or "predict"')

    def forward_encoder(self, inputs, removed, grid):
        visible = 1.0 - removed.reshape(-1, 1, *grid).to(inputs.dtype)
        return self.encoder(inputs, visible)[0]

    def forward_decoder(self, latent, removed, grid):
        x = self.proj(latent)
        removed_map = removed.reshape(-1, 1, *grid).to(x.dtype)
        x = x * (1.0 - removed_map) + self.mask_token.to(x.dtype) * removed_map
        pred = self.pred(self.decoder(x))
        return pred.flatten(2).transpose(1, 2)

    def forward_loss(self, inputs, pred, removed):
        """Mean squared error over the removed patches only (at least float32, also under AMP)."""
        dtype = torch.promote_types(pred.dtype, torch.float32)
        target = patchify(inputs.to(dtype), self.patch_size)
        if self.norm_pix_loss:
            target = normalise_patches(target)
        per_patch = (pred.to(dtype) - target).pow(2).mean(dim=-1)
        removed = removed.to(dtype)
        return (per_patch * removed).sum() / removed.sum().clamp(min=1.0)


def pretrained_init_cfg(encoder_init):
    """``encoder_init`` as the backbone's ``init_cfg``; one line on anything else."""
    if encoder_init is None:
        return None
    if isinstance(encoder_init, str):
        encoder_init = dict(type='Pretrained', checkpoint=encoder_init)
    if (not isinstance(encoder_init, dict) or encoder_init.get('type') != 'Pretrained'
            or not encoder_init.get('checkpoint') or set(encoder_init) - {'type', 'checkpoint', 'prefix'}):
        raise ValueError(f'FCMAE: encoder_init must be dict(type="Pretrained", checkpoint=PATH, URL '
                         f'or hub id[, prefix=...]) or None, got {encoder_init!r}')
    return dict(encoder_init)


def normalise_patches(patches, eps=1e-6):
    """Per-patch normalisation of the target (MAE): mean 0, unbiased variance 1, eps 1e-6."""
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)
    return (patches - mean) / (var + eps).sqrt()
