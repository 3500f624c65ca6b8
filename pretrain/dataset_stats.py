"""Per-dataset statistics of a folder of one's own images, and the config lines that use them
(``tools/dataset_stats.py FOLDER``): image count, per-channel mean and std over every pixel (in
the files' own units, as ``OwnImageFolder`` reads them), sizes, channel counts, bit depths and the
files that cannot be read.
"""
import collections
import random

import numpy as np

from engine.image_files import UnreadableSample

from .dataset import find_images
from .image_reading import read_array


class FolderStats:
    """Running per-channel sums (float64) over the images of one channel count."""

    def __init__(self):
        self.count = 0
        self.pixels = 0
        self.sum = self.sum_sq = None
        self.sizes = collections.Counter()
        self.channels = collections.Counter()
        self.dtypes = collections.Counter()
        self.unreadable = []

    def add(self, array):
        self.count += 1
        self.sizes[array.shape[:2]] += 1
        self.channels[array.shape[2]] += 1
        self.dtypes[str(array.dtype)] += 1
        if len(self.channels) > 1:
            return   # a mixed-channel folder has no per-channel statistics: summary says so
        flat = array.reshape(-1, array.shape[2]).astype(np.float64)
        sums, squares = flat.sum(axis=0), np.square(flat).sum(axis=0)
        self.sum = sums if self.sum is None else self.sum + sums
        self.sum_sq = squares if self.sum_sq is None else self.sum_sq + squares
        self.pixels += flat.shape[0]

    @property
    def mean(self):
        return self.sum / self.pixels

    @property
    def std(self):
        return np.sqrt(np.maximum(self.sum_sq / self.pixels - np.square(self.mean), 0.0))


def folder_stats(root, max_images=None, seed=0):
    """``FolderStats`` of the images below ``root`` (``max_images``: a random sample of them)."""
    paths = find_images(root)
    if max_images and len(paths) > max_images:
        paths = sorted(random.Random(seed).sample(paths, max_images))
    stats = FolderStats()
    stats.total = len(find_images(root)) if max_images else len(paths)
    for path in paths:
        try:
            stats.add(read_array(path))
        except UnreadableSample as err:
            stats.unreadable.append((err.path, err.reason))
    return stats


def report(stats, root):
    """The summary lines and the config lines to paste, as one text."""
    lines = [f'{root}: {stats.count} readable images'
             + (f' (a sample of {stats.total})' if stats.total > stats.count + len(stats.unreadable) else '')
             + f', {len(stats.unreadable)} unreadable']
    for path, reason in stats.unreadable[:20]:
        lines.append(f'  unreadable: {path}: {reason}')
    if len(stats.unreadable) > 20:
        lines.append(f'  ... and {len(stats.unreadable) - 20} more')
    if not stats.count:
        return '\n'.join(lines + ['no readable image: nothing to compute'])
    heights = [h for h, _ in stats.sizes.elements()]
    widths = [w for _, w in stats.sizes.elements()]
    (common, n), = stats.sizes.most_common(1)
    lines.append(f'sizes (HxW): {min(heights)}..{max(heights)} x {min(widths)}..{max(widths)}, '
                 f'most common {common[0]}x{common[1]} ({n} images)')
    lines.append('channels: ' + ', '.join(f'{c} ({n} images)' for c, n in sorted(stats.channels.items())))
    lines.append('dtypes: ' + ', '.join(f'{d} ({n} images)' for d, n in sorted(stats.dtypes.items())))
    if len(stats.dtypes) > 1:
        lines.append('warning: the images mix bit depths; one mean/std cannot normalise them all - '
                     'convert them to one depth first')
    if len(stats.channels) > 1:
        return '\n'.join(lines + ['the images mix channel counts: no per-channel statistics; keep '
                                  'images of one channel count in the folder (FCMAE has one stem)'])
    (channels,) = stats.channels
    mean = [round(float(v), 3) for v in stats.mean]
    std = [round(max(float(v), 1e-3), 3) for v in stats.std]
    lines += [f'mean per channel: {mean}', f'std per channel:  {std}', '',
              '# paste into a pretrain/configs/fcmae_convnextv2_<size>_continue_custom.py copy:',
              f'model = dict(in_channels={channels}, data_preprocessor=dict(mean={mean}, std={std}))',
              f"train_dataloader = dict(dataset=dict(data_root='{root}', in_channels={channels}))",
              '# or on the command line:',
              f'--cfg-options model.in_channels={channels} "model.data_preprocessor.mean={mean}" '
              f'"model.data_preprocessor.std={std}" train_dataloader.dataset.data_root={root} '
              f'train_dataloader.dataset.in_channels={channels}']
    return '\n'.join(lines)
