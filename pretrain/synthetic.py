"""A tiny generated image set for the toy FCMAE run and the tests (no download).

Each image is a smooth colour gradient with a few solid ellipses and rectangles on it: structure
that a masked autoencoder can learn to fill in within minutes on a CPU. Written as an
ImageNet-style folder ``<root>/train/<class>/<name>.jpg`` (the class is the number of shapes).
"""
import os

import numpy as np
from PIL import Image, ImageDraw


def synthetic_image(rng, size, num_shapes):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xx + np.sin(angle) * yy
    low, high = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    pixels = low + (high - low) * (ramp - ramp.min())[..., None] / max(np.ptp(ramp), 1e-6)
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(num_shapes):
        x0, y0 = rng.uniform(-0.2, 0.8, 2) * size
        w, h = rng.uniform(0.2, 0.6, 2) * size
        colour = tuple(int(c) for c in rng.uniform(0, 255, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x0, y0, x0 + w, y0 + h], fill=colour)
    return image


def make_image_folder(root, num_images=64, size=128, num_classes=4, seed=0, force=False):
    """Write ``num_images`` images of ``size`` x ``size`` below ``root/train``; return that folder.
    A non-empty ``root/train`` is replaced only with ``force`` (else ``WorkDirError``)."""
    rng = np.random.default_rng(seed)
    train = os.path.join(root, 'train')
    from engine.work_dir_guard import check_output_free
    if check_output_free(train, force, 'the synthetic image folder'):
        import shutil
        shutil.rmtree(train)
    for index in range(num_images):
        label = index % num_classes
        folder = os.path.join(train, f'class_{label}')
        os.makedirs(folder, exist_ok=True)
        synthetic_image(rng, size, num_shapes=label + 1).save(
            os.path.join(folder, f'img_{index:05d}.jpg'), quality=95)
    return train


def texture_stack(rng, size, channels):
    """(size, size, channels) uint16 image of a made-up multi-band sensor, unlike the RGB toy set's
    flat colours and hard-edged shapes: every band is one shared slow ramp (its own gain and sign),
    two soft Gaussian blobs of its own and a fine grating, over the full 16-bit range."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xx + np.sin(angle) * yy
    bands = []
    for _ in range(channels):
        band = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0) * ramp
        for _ in range(2):
            cy, cx = rng.uniform(0, 1, 2)
            band += rng.uniform(-0.6, 0.6) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2)
                                                   / (2 * rng.uniform(0.05, 0.2) ** 2))
        band += 0.05 * _grating(rng, xx, yy)
        bands.append(band)
    stack = np.stack(bands, axis=-1)
    stack = (stack - stack.min()) / max(np.ptp(stack), 1e-6)
    return (stack * 65535).astype(np.uint16)


def _grating(rng, xx, yy):
    angle, frequency, phase = rng.uniform(0, np.pi), rng.uniform(8, 16), rng.uniform(0, 2 * np.pi)
    return np.sin(2 * np.pi * frequency * (np.cos(angle) * xx + np.sin(angle) * yy) + phase)


def make_texture_folder(root, num_images=32, size=96, channels=4, seed=0):
    """Write ``num_images`` 16-bit ``channels``-channel TIFFs in nested folders below ``root``
    (``root/site_k/day_j/tile_i.tif``, as a user's own sensor archive might be); return ``root``."""
    import tifffile
    rng = np.random.default_rng(seed)
    for index in range(num_images):
        folder = os.path.join(root, f'site_{index % 2}', f'day_{index % 3}')
        os.makedirs(folder, exist_ok=True)
        tifffile.imwrite(os.path.join(folder, f'tile_{index:04d}.tif'),
                         texture_stack(rng, size, channels), photometric='minisblack',
                         planarconfig='contig')
    return root
