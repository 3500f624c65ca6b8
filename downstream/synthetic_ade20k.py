"""A small synthetic semantic-segmentation set in the real ADEChallengeData2016 layout (JPEG images,
single-channel PNG label maps, 0 = "other"). The command is tools/make_synthetic.py ade20k.
"""
import os

import numpy as np
from PIL import Image

# ADE20K label (1-based, as stored in the PNGs) -> (form, RGB colour); names from ADE20KDataset.
WALL, FLOOR = 1, 4
SHAPES = {
    8: ('rectangle', (200, 40, 40)),    # bed
    20: ('disk', (230, 200, 30)),       # chair
    21: ('triangle', (40, 80, 220)),    # car
    23: ('ring', (40, 180, 60)),        # painting
    37: ('cross', (190, 60, 200)),      # lamp
}
BACKGROUND_COLOURS = {WALL: (150, 150, 150), FLOOR: (120, 85, 50)}
SPLITS = {'training': 'train', 'validation': 'val'}


def shape_mask(form, height, width, rng):
    """Boolean mask of one randomly placed and sized shape of the given form."""
    size = rng.uniform(0.25, 0.5) * min(height, width)
    cy, cx = rng.uniform(size / 2, height - size / 2), rng.uniform(size / 2, width - size / 2)
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    dy, dx = (yy - cy) / (size / 2), (xx - cx) / (size / 2)
    if form == 'rectangle':
        return (np.abs(dy) < 0.6) & (np.abs(dx) < 1.0)
    if form == 'disk':
        return dy ** 2 + dx ** 2 < 1.0
    if form == 'triangle':
        return (dy < 0.8) & (dy > 2 * np.abs(dx) - 1.0)
    if form == 'ring':
        radius = dy ** 2 + dx ** 2
        return (radius < 1.0) & (radius > 0.35)
    if form == 'cross':
        return ((np.abs(dy) < 0.25) & (np.abs(dx) < 1.0)) | ((np.abs(dx) < 0.25) & (np.abs(dy) < 1.0))
    raise ValueError(f'unknown form {form!r}')


def thin_rim(mask):
    """Pixels just outside ``mask`` (one-pixel dilation minus the mask)."""
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown & ~mask


def synthetic_sample(rng, height, width):
    """(RGB uint8 image, uint8 label map with ADE20K labels) of one scene."""
    label = np.full((height, width), WALL, np.uint8)
    label[int(height * rng.uniform(0.45, 0.7)):] = FLOOR
    for _ in range(rng.integers(1, 4)):
        cls = int(rng.choice(list(SHAPES)))
        mask = shape_mask(SHAPES[cls][0], height, width, rng)
        label[thin_rim(mask)] = 0
        label[mask] = cls
    colours = {**BACKGROUND_COLOURS, **{cls: colour for cls, (_, colour) in SHAPES.items()},
               0: (128, 128, 128)}
    lut = np.zeros((256, 3), np.float32)
    for cls, colour in colours.items():
        lut[cls] = colour
    image = lut[label] * rng.uniform(0.8, 1.2) + rng.normal(0, 12, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8), label


def make_synthetic_ade20k(out, num_train=96, num_val=24, size=(96, 128), seed=0, force=False):
    """Write the set under ``out/ADEChallengeData2016`` and return that data root.

    ``size`` is the (min, max) of the image height and width (each drawn per image).
    """
    root = os.path.join(out, 'ADEChallengeData2016')
    from engine.work_dir_guard import check_output_free
    if check_output_free(root, force, 'the synthetic ADE20K set'):   # replaced only with force
        import shutil
        shutil.rmtree(root)
    rng = np.random.default_rng(seed)
    for split, count in (('training', num_train), ('validation', num_val)):
        image_dir = os.path.join(root, 'images', split)
        label_dir = os.path.join(root, 'annotations', split)
        os.makedirs(image_dir, exist_ok=True)
        os.makedirs(label_dir, exist_ok=True)
        for index in range(1, count + 1):
            height, width = (int(rng.integers(size[0], size[1] + 1)) for _ in range(2))
            image, label = synthetic_sample(rng, height, width)
            name = f'ADE_{SPLITS[split]}_{index:08d}'
            Image.fromarray(image).save(os.path.join(image_dir, name + '.jpg'), quality=92)
            Image.fromarray(label).save(os.path.join(label_dir, name + '.png'))
    return root
