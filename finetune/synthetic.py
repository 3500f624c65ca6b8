"""A small generated ImageNet-style classification folder (one texture per class), for the toy
finetune. The command is tools/make_synthetic.py imagenet.
"""
import os

import numpy as np
from PIL import Image

CLASSES = ('hstripes', 'vstripes', 'diagonal', 'checker', 'dots', 'rings', 'discs', 'plain')


def _colours(rng):
    """Two colours at least 150 apart in summed RGB, so that the pattern is always visible."""
    while True:
        fg, bg = rng.integers(0, 256, (2, 3))
        if np.abs(fg - bg).sum() >= 150:
            return fg, bg


def _pattern(name, size, rng):
    """A boolean (size, size) foreground mask of the texture ``name``."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    period = rng.uniform(size / 5, size / 2.5)   # stays >= 6 px after halving the size
    phase = rng.uniform(0, period)
    if name == 'hstripes':
        return (yy + phase) % period < period / 2
    if name == 'vstripes':
        return (xx + phase) % period < period / 2
    if name == 'diagonal':
        sign = rng.choice([-1, 1])
        return (xx + sign * yy + phase) % period < period / 2
    if name == 'checker':
        return ((xx + phase) // (period / 2) + (yy + phase) // (period / 2)) % 2 == 0
    if name == 'dots':
        dx, dy = (xx + phase) % period - period / 2, (yy + phase) % period - period / 2
        return dx ** 2 + dy ** 2 < (period / 4) ** 2
    if name == 'rings':
        cx, cy = rng.uniform(0.3, 0.7, 2) * size
        return np.hypot(xx - cx, yy - cy) % period < period / 2
    if name == 'discs':
        mask = np.zeros((size, size), bool)
        for _ in range(rng.integers(2, 5)):
            cx, cy = rng.uniform(0, size, 2)
            mask |= np.hypot(xx - cx, yy - cy) < rng.uniform(size / 8, size / 4)
        return mask
    if name == 'plain':
        return np.zeros((size, size), bool)
    raise ValueError(f'unknown texture class {name!r}; choose from {CLASSES}')


def draw_sample(name, size, rng):
    fg, bg = _colours(rng)
    mask = _pattern(name, size, rng)[..., None]
    pixels = np.where(mask, fg, bg) + rng.normal(0, 12, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_dataset(out, num_classes=8, train_per_class=64, val_per_class=16, size=64, seed=0,
                 force=False):
    """Write the folder; return {split: number of images}. A non-empty ``out/train`` or ``out/val``
    is replaced only with ``force``; otherwise ``engine.work_dir_guard.WorkDirError``."""
    if not 2 <= num_classes <= len(CLASSES):
        raise ValueError(f'num_classes must be in 2..{len(CLASSES)}, got {num_classes}')
    import shutil
    from engine.work_dir_guard import check_output_free
    for split in ('train', 'val'):
        if check_output_free(os.path.join(out, split), force, 'the synthetic image folder'):
            shutil.rmtree(os.path.join(out, split))
    rng = np.random.default_rng(seed)
    counts = {}
    for split, per_class in (('train', train_per_class), ('val', val_per_class)):
        for name in CLASSES[:num_classes]:
            folder = os.path.join(out, split, name)
            os.makedirs(folder, exist_ok=True)
            for index in range(per_class):
                draw_sample(name, size, rng).save(os.path.join(folder, f'{name}_{index:04d}.png'))
        counts[split] = num_classes * per_class
    return counts
