"""Building blocks of ConvNeXt V2 (paper §4, Appendix A.1): LayerNorm over channels, GRN, the block.

Every layer takes an optional ``visible`` mask (1 = visible, 0 = removed) so that the same block
serves FCMAE's sparse encoder: with a mask, nothing computed at a removed position ever reaches a
visible one, which is what submanifold sparse convolution guarantees (paper §3, Appendix A.2).
The mask is either a dense (N, 1, H, W) tensor (masked dense convolution) or a ``VisiblePositions``
(the per-position MLP then runs on the visible positions only: same numbers, less work).
"""
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import DropPath

from . import fused_grn


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor (the official ``channels_first`` LayerNorm)."""

    def __init__(self, num_channels, eps=1e-6):
        super().__init__(num_channels, eps=eps)

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class VisiblePositions(NamedTuple):
    """A {0,1} mask with the flat NHWC indices of its visible positions and their image ids."""
    dense: torch.Tensor   # (N, 1, H, W)
    index: torch.Tensor   # (K,) indices into the N*H*W positions
    image: torch.Tensor   # (K,) image of each visible position

    @classmethod
    def of(cls, dense):
        index = dense.flatten().nonzero().squeeze(1)
        return cls(dense, index, index // (dense.shape[-2] * dense.shape[-1]))


class GRN(nn.Module):
    """Global Response Normalization on channels-last input (paper Algorithm 1).

    L2 norm of each channel over space, divided by its mean over channels, then
    ``gamma * (x * N) + beta + x`` with gamma and beta starting at zero. With a ``visible`` mask
    (N, H, W, 1) the spatial norm runs over visible positions only, per image. Without one, on CUDA
    and switched on, the Triton kernels of ``backbones.fused_grn`` compute the same numbers.
    """

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.eps = eps

    def forward(self, x, visible=None):
        if visible is None and fused_grn.available(x):
            return fused_grn.fused_grn(x, self.gamma, self.beta, self.eps)
        pooled = x if visible is None else x * visible
        gx = torch.linalg.vector_norm(pooled, ord=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + self.eps)
        return torch.addcmul(self.beta + x, self.gamma, x * nx)

    def forward_rows(self, rows, image, num_images):
        """GRN on (K, C) visible rows; the spatial norm runs per image over its own rows."""
        squares = rows.new_zeros(num_images, rows.shape[1]).index_add_(0, image, rows * rows)
        # sqrt'(0) is infinite: a channel that is exactly 0 at every visible row (GELU underflows
        # to 0 below about -15; likely with few visible positions) would turn its gradient into NaN.
        # Zero gradient there instead, as torch.linalg.vector_norm (the dense path) does.
        nonzero = squares > 0
        gx = torch.where(nonzero, squares, torch.ones_like(squares)).sqrt() * nonzero
        nx = gx / (gx.mean(dim=-1, keepdim=True) + self.eps)
        return torch.addcmul(self.beta.view(-1) + rows, self.gamma.view(-1), rows * nx[image])


class Block(nn.Module):
    """ConvNeXt V2 block: 7x7 depthwise conv, LN, 4x MLP with GRN, no LayerScale, drop path."""

    def __init__(self, dim, drop_path=0.0):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.grn = GRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x, visible=None):
        shortcut = x
        if visible is None:
            x = self.dwconv(x)
            x = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(x.permute(0, 2, 3, 1))))))
            x = x.permute(0, 3, 1, 2)
        elif isinstance(visible, VisiblePositions):
            x = self._mlp_on_visible_rows(self.dwconv(x * visible.dense), visible)
        else:
            x = self.dwconv(x * visible) * visible
            x = self.act(self.pwconv1(self.norm(x.permute(0, 2, 3, 1))))
            x = self.grn(x, visible.permute(0, 2, 3, 1))
            x = self.pwconv2(x).permute(0, 3, 1, 2) * visible
        return shortcut + self.drop_path(x)

    def _mlp_on_visible_rows(self, x, visible):
        """LN -> pwconv1 -> GELU -> GRN -> pwconv2 at visible positions only, zeros elsewhere."""
        n, c, h, w = x.shape
        flat = x.permute(0, 2, 3, 1).reshape(n * h * w, c)
        rows = self.act(self.pwconv1(self.norm(flat.index_select(0, visible.index))))
        rows = self.pwconv2(self.grn.forward_rows(rows, visible.image, n))
        out = flat.new_zeros(n * h * w, c).index_copy(0, visible.index, rows)
        return out.reshape(n, h, w, c).permute(0, 3, 1, 2)


def stem(in_channels, dim):
    """4x4 stride-4 patchify conv followed by LayerNorm (``downsample_layers.0``)."""
    return nn.Sequential(nn.Conv2d(in_channels, dim, kernel_size=4, stride=4), LayerNorm2d(dim))


def downsample(in_dim, out_dim):
    """LayerNorm then 2x2 stride-2 conv between stages (``downsample_layers.1..3``)."""
    return nn.Sequential(LayerNorm2d(in_dim), nn.Conv2d(in_dim, out_dim, kernel_size=2, stride=2))
