"""Data of the ImageNet finetune (paper Appendix A.2): folders, timm transforms, batch augments.

* ``ImageFolderClassification``: an ImageNet-style folder (``<root>/<split>/<class>/<image>``)
  read with torchvision's ``ImageFolder``; training images get timm's RandomResizedCrop + flip +
  RandAugment(9, 0.5) (``rand-m9-mstd0.5-inc1``), evaluation images the paper's centre crop
  (resize the shorter side to ``img_size / crop_pct``, crop ``img_size``). Both return uint8
  tensors, as timm does in its "prefetcher" mode: normalisation runs batched on the device.
* ``ClassifierDataPreprocessor``: normalisation, then for training timm's RandomErasing and
  Mixup/CutMix (with label smoothing in the soft targets), the way timm's prefetcher and training
  loop apply them.
"""
import os

from mmengine.model import ImgDataPreprocessor
from mmengine.registry import DATASETS, MODELS
from PIL import Image
from timm.data import Mixup, auto_augment
from timm.data.random_erasing import RandomErasing
from timm.data.transforms_factory import transforms_imagenet_eval, transforms_imagenet_train
from torch.utils.data import Dataset
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

from engine.image_files import open_rgb
from engine.skipped_samples import first_readable
from finetune.classifier import IMAGENET_MEAN, IMAGENET_STD

RAND_AUGMENT = 'rand-m9-mstd0.5-inc1'   # RandAugment(9, 0.5) as the official recipes spell it


def train_transform(img_size=224, rand_augment=RAND_AUGMENT, interpolation='bicubic',
                    crop_scale=(0.08, 1.0)):
    """Training transform of the official finetune: RandomResizedCrop(0.08-1), flip, RandAugment.
    Colour jitter stays off (timm disables it under RandAugment anyway); erasing runs batched."""
    transform = transforms_imagenet_train(
        img_size, scale=tuple(crop_scale), hflip=0.5, color_jitter=None,
        auto_augment=rand_augment or None, interpolation=interpolation,
        mean=tuple(m / 255 for m in IMAGENET_MEAN), use_prefetcher=True)
    for step in transform.transforms:
        for op in getattr(step, 'ops', []):
            if op.aug_fn is auto_augment.posterize:
                op.aug_fn = posterize_any_bits
    return transform


def posterize_any_bits(img, bits_to_keep, **kwargs):
    """timm's posterize, keeping 0 bits as older Pillow did (a black image). RandAugment's
    'PosterizeIncreasing' asks for 0 bits at magnitude 10, which m9 with std 0.5 reaches, and
    Pillow >= 11 refuses it with a ValueError in the middle of an epoch."""
    if bits_to_keep < 1:
        return Image.new(img.mode, img.size)
    return auto_augment.posterize(img, bits_to_keep, **kwargs)


def eval_transform(img_size=224, crop_pct=0.875, interpolation='bicubic'):
    """The paper's evaluation: shorter side to ``img_size / crop_pct``, centre crop ``img_size``."""
    return transforms_imagenet_eval(img_size, crop_pct=crop_pct, interpolation=interpolation,
                                    use_prefetcher=True)


class _FolderWithClasses(ImageFolder):
    """ImageFolder whose class -> index map may come from another folder (val uses train's)."""

    def __init__(self, root, classes_root=None, **kwargs):
        self._classes_root = classes_root
        # a val folder may lack some of train's classes; its own folders were checked non-empty.
        # open_rgb: a broken file (empty, truncated, undecodable) raises UnreadableSample
        super().__init__(root, allow_empty=classes_root is not None, loader=open_rgb, **kwargs)

    def find_classes(self, directory):
        classes, _ = super().find_classes(self._classes_root or directory)
        own, _ = super().find_classes(directory)
        unknown = sorted(set(own) - set(classes))
        if unknown:
            raise ValueError(f'{directory} has classes {unknown[:5]} that {self._classes_root} '
                             'does not have; val and train must use the same class folders')
        return classes, {name: i for i, name in enumerate(classes)}


@DATASETS.register_module()
class ImageFolderClassification(Dataset):
    """``<data_root>/<split>/<class>/<image>`` with the finetune transforms.

    Args:
        data_root: folder holding the split folders (``train``, ``val``).
        split: sub-folder to read; ``train`` gets the training transform, anything else the
            evaluation one (override with ``training``).
        img_size, crop_pct, rand_augment, interpolation: transform settings (see above).
        crop_scale: area range of the training RandomResizedCrop.
        num_classes: when given, the class folders found must number exactly this.
        classes_from: split whose class folders define the label indices (``train`` for val).
    """

    def __init__(self, data_root, split='train', img_size=224, crop_pct=0.875,
                 rand_augment=RAND_AUGMENT, interpolation='bicubic', num_classes=None,
                 classes_from=None, training=None, crop_scale=(0.08, 1.0)):
        root = os.path.join(data_root, split)
        _check_folder(root)
        classes_root = os.path.join(data_root, classes_from) if classes_from else None
        if classes_root:
            _check_folder(classes_root)
        self.training = split == 'train' if training is None else training
        if self.training:
            transform = train_transform(img_size, rand_augment, interpolation, crop_scale)
        else:
            transform = eval_transform(img_size, crop_pct, interpolation)
        self.folder = _FolderWithClasses(root, classes_root=classes_root, transform=transform)
        self.classes = self.folder.classes
        if num_classes is not None and len(self.classes) != num_classes:
            raise ValueError(f'{classes_root or root} has {len(self.classes)} class folders but '
                             f'the config says num_classes={num_classes}; set recipe.num_classes '
                             f'to {len(self.classes)} or point data_root at the right folder')
        self.metainfo = dict(classes=tuple(self.classes))

    def __len__(self):
        return len(self.folder)

    def sample_files(self):
        """The image of every sample (tools/check_dataset.py)."""
        return [dict(img_path=path) for path, _ in self.folder.samples]

    def __getitem__(self, index):
        # an unreadable image is reported (logged once, counted, limited by SkippedSamplesHook)
        # and another one drawn, as mmengine's datasets do
        image, label = first_readable(self.folder.__getitem__, index, len(self.folder))
        return dict(inputs=image, data_samples=label)


def _check_folder(root):
    if not os.path.isdir(root):
        raise FileNotFoundError(f'image folder {root} does not exist; expected <data_root>/<split>/'
                                '<class>/<image> (python tools/make_synthetic.py imagenet --out DIR makes one)')
    classes = [d.name for d in os.scandir(root) if d.is_dir()]
    if not classes:
        raise FileNotFoundError(f'image folder {root} has no class sub-folders; expected '
                                f'{root}/<class>/<image>')
    for name in classes:
        for _, _, files in os.walk(os.path.join(root, name)):
            if any(f.lower().endswith(IMG_EXTENSIONS) for f in files):
                break
        else:
            raise FileNotFoundError(f'class folder {os.path.join(root, name)} has no images '
                                    f'({", ".join(IMG_EXTENSIONS)}); remove it or add images')


@MODELS.register_module()
class ClassifierDataPreprocessor(ImgDataPreprocessor):
    """Normalise a uint8 RGB batch; when training, random erasing then mixup/cutmix (timm).

    Args:
        num_classes: classes of the soft targets.
        mixup, cutmix: Beta(alpha, alpha) of timm's ``Mixup``; both 0 turns it off.
        label_smoothing: smoothing folded into the mixup soft targets.
        random_erasing: probability of timm's ``RandomErasing`` (per image, 'pixel' mode, one box).
        mixup_switch_prob: chance of cutmix instead of mixup when both are on (timm default 0.5).
    """

    def __init__(self, num_classes=1000, mixup=0.0, cutmix=0.0, label_smoothing=0.0,
                 random_erasing=0.0, mixup_switch_prob=0.5, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__(mean=mean, std=std)
        self.mixup = None
        if mixup > 0 or cutmix > 0:
            self.mixup = Mixup(mixup_alpha=mixup, cutmix_alpha=cutmix,
                               switch_prob=mixup_switch_prob, label_smoothing=label_smoothing,
                               num_classes=num_classes)
        self.random_erasing = random_erasing
        self._erasers = {}

    def forward(self, data, training=False):
        data = super().forward(data, training)
        if not training:
            return data
        inputs, targets = data['inputs'], data['data_samples']
        if self.random_erasing > 0:
            inputs = self._eraser(inputs.device)(inputs)
        if self.mixup is not None:
            if len(inputs) % 2:
                raise ValueError(f'mixup/cutmix need an even batch per GPU, got {len(inputs)}; '
                                 'use an even train_dataloader.batch_size with drop_last=True')
            inputs, targets = self.mixup(inputs, targets)
        return dict(inputs=inputs, data_samples=targets)

    def _eraser(self, device):
        key = str(device)
        if key not in self._erasers:
            self._erasers[key] = RandomErasing(self.random_erasing, mode='pixel', max_count=1,
                                               device=device)
        return self._erasers[key]
