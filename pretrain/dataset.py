"""Unlabelled images for FCMAE: an ImageNet-style folder (``train/<class>/*.JPEG``) or a flat one.

Augmentation as in the paper's Table 8 / the official pretraining: RandomResizedCrop (scale 0.2-1,
bicubic) and horizontal flip. Images come out as uint8 CHW tensors; the model's
``ImgDataPreprocessor`` normalises them on the device.
"""
import os

import numpy as np
import torch
from mmengine.registry import DATASETS
from torch.utils.data import Dataset
from torchvision import transforms
from torchvision.transforms import InterpolationMode

from engine.image_files import open_rgb
from engine.skipped_samples import first_readable

from .image_reading import as_channels, read_array

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def find_images(root, extensions=IMAGE_EXTENSIONS):
    """Sorted paths of all images below ``root`` (class folders or flat, any depth)."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f'image folder {root} does not exist; point data_root at an '
                                'ImageNet-style train/ folder (or run python tools/make_synthetic.py fcmae '
                                '--out data/fcmae_toy for the toy set)')
    found = []
    for folder, subfolders, files in os.walk(root, followlinks=True):
        subfolders.sort()
        found.extend(os.path.join(folder, f) for f in sorted(files)
                     if f.lower().endswith(extensions) and not f.startswith('.'))
    if not found:
        raise FileNotFoundError(f'no images ({", ".join(extensions)}) found under {root}; expected '
                                '<root>/<class>/*.JPEG or <root>/*.jpg')
    return found


@DATASETS.register_module()
class UnlabeledImageFolder(Dataset):
    """Every image below ``data_root``, randomly resized, cropped to ``img_size`` and flipped.

    Args:
        data_root: folder of images (ImageNet ``train/`` or flat).
        img_size: crop size, an int or (height, width); multiples of 32 for FCMAE.
        scale: RandomResizedCrop area range.
    """

    def __init__(self, data_root, img_size=224, scale=(0.2, 1.0)):
        self.data_root = data_root
        self.img_size = img_size
        self.paths = find_images(data_root)
        self.transform = transforms.Compose([
            transforms.RandomResizedCrop(img_size, scale=tuple(scale),
                                         interpolation=InterpolationMode.BICUBIC),
            transforms.RandomHorizontalFlip(),
            transforms.PILToTensor(),
        ])

    @property
    def metainfo(self):
        return dict(data_root=self.data_root, num_images=len(self.paths))

    def __len__(self):
        return len(self.paths)

    def sample_files(self):
        """The image of every sample (tools/check_dataset.py)."""
        return [dict(img_path=path) for path in self.paths]

    def __getitem__(self, index):
        # an unreadable image is reported (logged once, counted, limited by SkippedSamplesHook)
        # and another one drawn, as mmengine's datasets do
        return first_readable(self._load, index, len(self.paths))

    def _load(self, index):
        return dict(inputs=self.transform(open_rgb(self.paths[index])))


@DATASETS.register_module()
class OwnImageFolder(UnlabeledImageFolder):
    """A folder of one's own unlabeled images: any layout below ``data_root`` (nested folders, mixed
    extensions), 8- or 16-bit PNG/TIFF, ``in_channels`` channels (multi-channel TIFF for 4+).

    Images come out as float32 CHW tensors in the files' own units (``pretrain.image_reading``);
    normalise them with the per-dataset mean/std that ``tools/dataset_stats.py FOLDER`` prints.
    An image with another channel count is skipped and counted like an unreadable one (the
    launcher's preflight refuses a folder whose first images have it).
    """

    def __init__(self, data_root, img_size=224, scale=(0.2, 1.0), in_channels=3):
        super().__init__(data_root, img_size, scale)
        self.in_channels = in_channels
        self.transform = transforms.Compose([
            transforms.RandomResizedCrop(img_size, scale=tuple(scale),
                                         interpolation=InterpolationMode.BICUBIC, antialias=True),
            transforms.RandomHorizontalFlip(),
        ])

    def _load(self, index):
        return dict(inputs=self.transform(read_tensor(self.paths[index], self.in_channels)))


def read_tensor(path, in_channels):
    """(C, H, W) float32 tensor of ``path`` with ``in_channels`` channels, in the file's units."""
    array = as_channels(read_array(path), in_channels, path)
    return torch.from_numpy(array.astype(np.float32)).permute(2, 0, 1).contiguous()
