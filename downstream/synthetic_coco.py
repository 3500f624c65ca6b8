"""A small synthetic instance-segmentation set in real COCO format (train2017/, val2017/,
annotations/instances_*.json): coloured shapes whose visible parts are annotated as COCO does.
The command is tools/make_synthetic.py coco.
"""
import json
import os

import cv2
import numpy as np
from pycocotools import mask as mask_utils

CLASSES = ('circle', 'square', 'triangle', 'ring')
CLASS_HUES = (0, 60, 120, 30)  # OpenCV hue (0..180): red, green, blue, yellow
MIN_VISIBLE_FRACTION = 0.3
MIN_VISIBLE_PIXELS = 64


def draw_shape(name, height, width, rng):
    """Binary mask (H, W) uint8 of one randomly placed shape of class ``name``."""
    mask = np.zeros((height, width), np.uint8)
    size = int(rng.uniform(0.2, 0.45) * min(height, width))
    cx = int(rng.uniform(size * 0.6, width - size * 0.6))
    cy = int(rng.uniform(size * 0.6, height - size * 0.6))
    if name == 'circle':
        cv2.circle(mask, (cx, cy), size // 2, 1, -1)
    elif name == 'square':
        rect = ((cx, cy), (size * 0.85, size * 0.85), rng.uniform(0, 90))
        cv2.fillPoly(mask, [cv2.boxPoints(rect).astype(np.int32)], 1)
    elif name == 'triangle':
        angles = rng.uniform(0, 2 * np.pi) + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3])
        points = np.stack([cx + size / 2 * np.cos(angles), cy + size / 2 * np.sin(angles)], 1)
        cv2.fillPoly(mask, [points.astype(np.int32)], 1)
    elif name == 'ring':
        cv2.circle(mask, (cx, cy), size // 2, 1, -1)
        cv2.circle(mask, (cx, cy), max(2, size // 4), 0, -1)
    else:
        raise ValueError(f'unknown shape {name!r}; choose one of {CLASSES}')
    return mask


def background(height, width, rng):
    """A smooth grey gradient with a slight tint plus noise, so no fixed threshold finds objects."""
    grey = rng.uniform(50, 200, size=(2, 2, 1)) + rng.uniform(-15, 15, size=(2, 2, 3))
    image = cv2.resize(grey.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    image += rng.normal(0, 12, size=image.shape)
    return image


def shape_colour(label, rng):
    """A BGR colour from the hue family of class ``label``, with random saturation and value."""
    hue = (CLASS_HUES[label] + rng.integers(-8, 9)) % 180
    hsv = np.array([[[hue, rng.integers(150, 256), rng.integers(120, 256)]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def polygons_of(mask):
    """COCO polygons ([x1, y1, x2, y2, ...] lists) of a binary mask's outer contours."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]


def encode_rle(mask):
    rle = mask_utils.encode(np.asfortranarray(mask))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle


def segmentation_of(name, mask):
    """Polygons for simple visible parts, compressed RLE for rings and split instances."""
    if name != 'ring':
        polygons = polygons_of(mask)
        if len(polygons) == 1:
            return polygons
    return encode_rle(mask)


def make_split(out_dir, split, num_images, rng, image_size, max_objects, first_ann_id=1):
    """Write ``num_images`` images of ``split`` and return the COCO instances dict."""
    os.makedirs(os.path.join(out_dir, split), exist_ok=True)
    images, annotations = [], []
    ann_id = first_ann_id
    for image_id in range(1, num_images + 1):
        height = int(rng.integers(image_size * 3 // 4, image_size + 1))
        width = int(rng.integers(image_size * 3 // 4, image_size + 1))
        image, shapes = _image_with_visible_shapes(rng, height, width, max_objects)
        file_name = f'{image_id:012d}.jpg'
        cv2.imwrite(os.path.join(out_dir, split, file_name), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append(dict(id=image_id, file_name=file_name, height=height, width=width))
        for label, mask in shapes:
            x, y, w, h = cv2.boundingRect(mask)
            annotations.append(dict(
                id=ann_id, image_id=image_id, category_id=label + 1, iscrowd=0,
                area=float(mask.sum()), bbox=[float(x), float(y), float(w), float(h)],
                segmentation=segmentation_of(CLASSES[label], mask)))
            ann_id += 1
    categories = [dict(id=i + 1, name=name, supercategory='shape') for i, name in enumerate(CLASSES)]
    return dict(info=dict(description=f'synthetic shapes, {split}', version='1.0'),
                licenses=[], images=images, annotations=annotations, categories=categories)


def _image_with_visible_shapes(rng, height, width, max_objects):
    """Draw shapes and keep those whose visible part is large enough to annotate."""
    image = background(height, width, rng)
    shapes = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        label = int(rng.integers(len(CLASSES)))
        mask = draw_shape(CLASSES[label], height, width, rng)
        pixels = mask > 0
        image[pixels] = shape_colour(label, rng) + rng.normal(0, 8, size=(int(pixels.sum()), 3))
        for _, earlier, _ in shapes:
            earlier[pixels] = 0  # occluded by the new shape
        shapes.append((label, mask, int(mask.sum())))
    visible = [(label, mask) for label, mask, full in shapes
               if mask.sum() >= max(MIN_VISIBLE_PIXELS, MIN_VISIBLE_FRACTION * full)]
    return np.clip(image, 0, 255).astype(np.uint8), visible


def make_synthetic_coco(out_dir, num_train=200, num_val=50, image_size=128, max_objects=5, seed=0,
                        force=False):
    """Write the whole set under ``out_dir``; return the paths of the two annotation files.

    An existing set there (an annotation file or a non-empty image folder) is replaced only with
    ``force`` (its annotation files and image folders are removed first); otherwise
    ``engine.work_dir_guard.WorkDirError``."""
    import shutil
    from engine.work_dir_guard import check_output_free
    made = [os.path.join(out_dir, 'annotations', f'instances_{s}.json') for s in ('train2017', 'val2017')]
    made += [os.path.join(out_dir, s) for s in ('train2017', 'val2017')]
    for path in made:
        if check_output_free(path, force, 'the synthetic COCO set part'):
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(out_dir, 'annotations'), exist_ok=True)
    paths = []
    for split, count in (('train2017', num_train), ('val2017', num_val)):
        coco = make_split(out_dir, split, count, rng, image_size, max_objects)
        path = os.path.join(out_dir, 'annotations', f'instances_{split}.json')
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(coco, f)
        os.replace(tmp, path)  # the annotation file appears only when complete
        paths.append(path)
    return paths
