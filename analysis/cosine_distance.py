"""Feature cosine distance across channels (paper §3.3, Figure 4).

For an activation X of shape (H, W, C) with X_i the i-th channel as an HW vector:

    distance(X) = 1/C^2 * sum_i sum_j (1 - cos(X_i, X_j)) / 2

(the diagonal i = j counts, as in the paper's formula). High values mean diverse channels, low
values redundant ones (feature collapse). Per image, then averaged over the images.

The double sum needs no C x C matrix: with u_i = X_i / |X_i|, sum_ij cos(X_i, X_j) = |sum_i u_i|^2,
so a layer costs O(HWC) per image. A channel that is exactly zero has no direction; like
``torch.nn.functional.cosine_similarity`` its cosine with every channel (itself included) is 0.
"""
from collections import defaultdict

import torch


def channel_cosine_distance(features, eps=1e-12):
    """Per-image distance of (N, H, W, C) or (N, HW, C) features; returns (N,) float32 or float64
    (whichever the features are, at least float32)."""
    if features.dim() not in (3, 4):
        raise ValueError(f'expected (N, H, W, C) or (N, HW, C) features, got {tuple(features.shape)}')
    x = features.reshape(features.shape[0], -1, features.shape[-1])
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    channels = x.shape[-1]
    unit = x / torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(eps)
    summed = unit.sum(dim=-1)                               # (N, HW): sum of the unit channels
    mean_cos = (summed * summed).sum(dim=-1) / channels ** 2
    return (1.0 - mean_cos) / 2.0


class DistanceMeter:
    """Running mean of the per-image distance for every (layer, tap) it is fed."""

    def __init__(self):
        self.total = defaultdict(float)
        self.count = defaultdict(int)

    def update(self, layer, tap, features):
        distances = channel_cosine_distance(features).double()
        self.total[layer, tap] += distances.sum().item()
        self.count[layer, tap] += distances.numel()

    def means(self):
        """{(layer, tap): mean distance over the images seen}."""
        return {key: self.total[key] / self.count[key] for key in self.total}
