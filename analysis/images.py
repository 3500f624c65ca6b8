"""The images an analysis runs on: an ImageNet-style folder ``DIR/<class>/*.jpg`` (labels from the
class folders) or a flat folder of images (no labels: no class selectivity), a class-balanced
subset of them, and the evaluation transform (resize to size/0.875, centre crop, ImageNet mean/std).
"""
import os
import random

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms
from torchvision.transforms import InterpolationMode

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class ImageSetError(ValueError):
    """An image folder that cannot be analysed; one line saying why and what to pass instead."""


def _images_in(folder):
    return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                  if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith('.')
                  and os.path.isfile(os.path.join(folder, f)))


def list_images(root):
    """(class names, [(path, label)]): class folders give labels 0..K-1; a flat folder label -1."""
    if not os.path.isdir(root):
        raise ImageSetError(f'image folder {root} does not exist; pass an ImageNet-style folder '
                            'DIR/<class>/*.jpg (python tools/make_synthetic.py imagenet --out DIR makes one)')
    classes = sorted(d for d in os.listdir(root)
                     if os.path.isdir(os.path.join(root, d)) and _images_in(os.path.join(root, d)))
    if classes:
        samples = [(path, label) for label, name in enumerate(classes)
                   for path in _images_in(os.path.join(root, name))]
        return classes, samples
    flat = _images_in(root)
    if flat:
        return [], [(path, -1) for path in flat]
    splits = [d for d in ('val', 'train') if os.path.isdir(os.path.join(root, d))]
    hint = f'; did you mean {os.path.join(root, splits[0])}?' if splits else ''
    raise ImageSetError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) in {root} or in its class '
                        f'folders {root}/<class>/{hint}')


def balanced_subset(samples, num, seed=0):
    """Up to ``num`` samples taken round-robin over the classes (each class shuffled with
    ``seed``), so that a subset spans as many classes as it can (paper: 1,000 images from
    different classes)."""
    by_class = {}
    for sample in samples:
        by_class.setdefault(sample[1], []).append(sample)
    rng = random.Random(seed)
    for members in by_class.values():
        rng.shuffle(members)
    picked, round_index = [], 0
    while len(picked) < num and any(round_index < len(m) for m in by_class.values()):
        for label in sorted(by_class):
            if round_index < len(by_class[label]) and len(picked) < num:
                picked.append(by_class[label][round_index])
        round_index += 1
    return picked


def eval_transform(size):
    return transforms.Compose([
        transforms.Resize(int(round(size / 0.875)), interpolation=InterpolationMode.BICUBIC),
        transforms.CenterCrop(size),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ])


class LabelledImages(Dataset):
    """(image tensor, label) of each sample, for a DataLoader."""

    def __init__(self, samples, size):
        self.samples = list(samples)
        self.transform = eval_transform(size)

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        try:
            image = Image.open(path).convert('RGB')
        except OSError as err:
            raise ImageSetError(f'cannot read image {path}: {err}') from None
        return self.transform(image), torch.tensor(label)


def to_display(image):
    """(H, W, 3) float image in [0, 1] of a normalised (3, H, W) tensor."""
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    return (image.cpu() * std + mean).clamp(0, 1).permute(1, 2, 0)
