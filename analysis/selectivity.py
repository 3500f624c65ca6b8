"""Class selectivity index (paper Appendix C, Figure 7; Morcos et al., 2018).

For one channel with class-conditional mean activities mu_1 .. mu_K:

    SI = (mu_max - mu_rest) / (mu_max + mu_rest),   mu_rest = mean of the other K - 1 classes

1: the channel responds to one class only; 0: it responds to all classes alike. A channel's
activity on an image is the spatial mean of its rectified activation, max(x, 0): the index is
defined for non-negative activities (firing rates), and a residual block's output, unlike a ReLU
network's, has negative values too. A channel silent on every class has no index (NaN).
"""
import math
from collections import defaultdict

import torch


def selectivity_index(class_means):
    """(C,) index of (K, C) class-mean activities (K >= 2 classes, activities >= 0)."""
    if class_means.dim() != 2 or class_means.shape[0] < 2:
        raise ValueError(f'need (classes >= 2, channels) class means, got {tuple(class_means.shape)}')
    means = class_means.double()
    top = means.max(dim=0).values
    rest = (means.sum(dim=0) - top) / (means.shape[0] - 1)
    total = top + rest
    index = (top - rest) / total
    return torch.where(total > 0, index, torch.full_like(index, math.nan))


def image_activity(features):
    """(N, C) spatial mean of the rectified (N, H, W, C) features."""
    return features.clamp_min(0).flatten(1, -2).mean(dim=1)


class ClassMeanMeter:
    """Per-class sums of the image activities of every (layer, tap) it is fed."""

    def __init__(self, num_classes):
        self.num_classes = num_classes
        self.sums = {}
        self.counts = defaultdict(lambda: torch.zeros(num_classes, dtype=torch.float64))

    def update(self, layer, tap, features, labels):
        activity = image_activity(features).double().cpu()
        labels = labels.cpu()
        key = layer, tap
        if key not in self.sums:
            self.sums[key] = torch.zeros(self.num_classes, activity.shape[1], dtype=torch.float64)
        self.sums[key].index_add_(0, labels, activity)
        self.counts[key] += torch.bincount(labels, minlength=self.num_classes).double()

    def indices(self):
        """{(layer, tap): (C,) selectivity index} over the classes that had images."""
        result = {}
        for key, sums in self.sums.items():
            seen = self.counts[key] > 0
            if int(seen.sum()) < 2:
                raise ValueError('the class selectivity index needs images of at least 2 classes')
            result[key] = selectivity_index(sums[seen] / self.counts[key][seen, None])
        return result


def density(values, grid):
    """Gaussian kernel density of ``values`` in [0, 1] on ``grid`` (Scott's bandwidth), reflected
    at 0 and 1 so that no mass leaks out of the index's range. NaNs are left out."""
    values = torch.as_tensor(values, dtype=torch.float64)
    values = values[~torch.isnan(values)]
    grid = torch.as_tensor(grid, dtype=torch.float64)
    if values.numel() == 0:
        return torch.zeros_like(grid)
    spread = values.std().item() if values.numel() > 1 else 0.0
    bandwidth = max(spread * values.numel() ** -0.2, 1e-2)
    mirrored = torch.cat([values, -values, 2.0 - values])
    z = (grid[:, None] - mirrored[None, :]) / bandwidth
    return torch.exp(-0.5 * z * z).sum(dim=1) / (values.numel() * bandwidth * math.sqrt(2 * math.pi))
