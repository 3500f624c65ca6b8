"""FCMAE's random masking (paper §3): one decision per 32x32 patch, i.e. per last-stage position.

One word per meaning: ``removed`` is 1 where a patch is masked out (MAE's and the official code's
``mask``), ``visible`` is 1 where it is kept; the encoder is given ``visible = 1 - removed``.
"""
import math

import torch


def num_removed(num_patches, ratio):
    """Patches removed from an image of ``num_patches``, as the official code counts them: the
    kept count ``floor((1 - ratio) * num_patches)`` is rounded down, the rest is removed.

    The same count for every image. A 1e-6 tolerance absorbs float error ((1 - 0.29) * 100 is
    70.99999999999999 in binary floating point but means 71). At 224x224 (49 patches) and ratio
    0.6 this keeps int(49 * 0.4) = 19 patches and removes 30, like the official FCMAE.
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f'mask_ratio must be in [0, 1), got {ratio}')
    return num_patches - int(math.floor((1.0 - ratio) * num_patches + 1e-6))


def random_removed_patches(batch, grid, ratio, device=None, generator=None):
    """A (batch, h * w) float ``removed`` map over the ``grid = (h, w)`` patches, 1 = removed, row-major.

    Exactly ``num_removed(h * w, ratio)`` patches are removed in every image, chosen uniformly
    at random and independently per image.
    """
    h, w = grid
    count = num_removed(h * w, ratio)
    noise = torch.rand(batch, h * w, device=device, generator=generator)
    removed_ids = noise.argsort(dim=1)[:, :count]
    removed = torch.zeros(batch, h * w, device=device)
    return removed.scatter_(1, removed_ids, 1.0)


def upsample_patches(removed, grid, scale):
    """(N, h * w) per-patch map -> (N, 1, h * scale, w * scale), each patch repeated scale x scale."""
    h, w = grid
    return removed.reshape(-1, 1, h, w).repeat_interleave(scale, 2).repeat_interleave(scale, 3)


def patch_grid(images, patch_size):
    """(h, w) of the patch grid of NCHW ``images``; the sides must be multiples of the patch."""
    height, width = images.shape[-2:]
    if height % patch_size or width % patch_size:
        raise ValueError(f'FCMAE input {height}x{width} is not a multiple of the {patch_size}-pixel '
                         f'patch on both sides; crop or resize to e.g. '
                         f'{max(height // patch_size, 1) * patch_size}x'
                         f'{max(width // patch_size, 1) * patch_size}')
    return height // patch_size, width // patch_size


def patchify(images, patch_size):
    """(N, C, H, W) -> (N, L, p * p * C), patches row-major, each flattened as (row, col, channel)
    like MAE and the official code (so official decoder weights predict in the same order)."""
    n, c = images.shape[:2]
    h, w = patch_grid(images, patch_size)
    p = patch_size
    x = images.reshape(n, c, h, p, w, p).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(n, h * w, p * p * c)


def unpatchify(patches, grid, patch_size, channels=3):
    """Inverse of ``patchify``: (N, L, p * p * C) on a ``grid = (h, w)`` -> (N, C, h * p, w * p)."""
    h, w = grid
    p = patch_size
    x = patches.reshape(patches.shape[0], h, w, p, p, channels).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(patches.shape[0], channels, h * p, w * p)

