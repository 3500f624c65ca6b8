"""Loud checks of ADE20K-layout data for the segmentation configs (imported via custom_imports).

* ``CheckedADE20KDataset``: mmseg's ``ADE20KDataset`` that fails up front with one line naming a
  missing image/annotation folder, an empty image folder or images without a label map.
* ``CheckSegMap``: a transform placed right after ``LoadAnnotations``; it fails with one line
  naming the file when a label map is not single-channel, its size differs from its image, or it
  holds values outside the class range. With ``skip_mismatched=True`` (training pipelines) a label
  map of the wrong size is reported and the sample skipped instead (engine/skipped_samples.py).
* ``SafeLoadSegAnnotations``: mmseg's ``LoadAnnotations`` that reports and skips a label map that
  cannot be read (training pipelines).
"""
import os

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.datasets import ADE20KDataset
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import DATASETS, TRANSFORMS

from engine.image_files import UnreadableSample, bytes_problem
from engine.skipped_samples import report_skipped

LAYOUT = ('<data_root>/images/{training,validation}/*.jpg and '
          '<data_root>/annotations/{training,validation}/*.png')


@DATASETS.register_module()
class CheckedADE20KDataset(ADE20KDataset):
    """``ADE20KDataset`` whose file listing checks the folder layout before training starts."""

    def load_data_list(self):
        local = self.backend_args is None
        folders = (('image', self.data_prefix.get('img_path')),
                   ('annotation', self.data_prefix.get('seg_map_path')))
        for kind, folder in folders:
            if local and folder and not os.path.isdir(folder):
                raise FileNotFoundError(
                    f'ADE20K {kind} folder {folder} does not exist; expected {LAYOUT} (set '
                    'data_root, or make a synthetic set with python tools/make_synthetic.py ade20k)')
        data_list = super().load_data_list()
        if not data_list:
            raise FileNotFoundError(f'no *{self.img_suffix} image in {folders[0][1]}; expected '
                                    f'{LAYOUT}')
        if local and folders[1][1]:
            missing = [d['seg_map_path'] for d in data_list if not os.path.isfile(d['seg_map_path'])]
            if missing:
                raise FileNotFoundError(
                    f'{len(missing)} of {len(data_list)} images have no label map, first '
                    f'{missing[0]}; every images/<split>/X{self.img_suffix} needs '
                    f'annotations/<split>/X{self.seg_map_suffix}')
        return data_list


@TRANSFORMS.register_module()
class CheckSegMap(BaseTransform):
    """Validate ``gt_seg_map`` against its image and the class range; put after LoadAnnotations.

    Valid stored values are 0..num_classes with ``reduce_zero_label`` (0 = "other", ignored) or
    0..num_classes-1 without it; ``ignore_index`` (255) is always allowed.
    """

    def __init__(self, num_classes=150, ignore_index=255, skip_mismatched=False):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.skip_mismatched = skip_mismatched

    def transform(self, results):
        seg = results['gt_seg_map']
        path = results.get('seg_map_path', '<label map>')
        if seg.ndim != 2:
            raise ValueError(f'label map {path} has shape {seg.shape}: it must be a single-channel '
                             'PNG of class indices, not a colour image')
        height, width = results['ori_shape'][:2]
        if seg.shape != (height, width) and self.skip_mismatched:
            report_skipped(path, f'label map is {seg.shape[1]}x{seg.shape[0]} but its image '
                                 f'{results.get("img_path")} is {width}x{height}')
            return None
        if seg.shape != (height, width):
            raise ValueError(f'label map {path} is {seg.shape[1]}x{seg.shape[0]} but its image '
                             f'{results.get("img_path")} is {width}x{height}; they must match')
        bad = (seg >= self.num_classes) & (seg != self.ignore_index)
        if bad.any():
            reduced = bool(results.get('reduce_zero_label'))
            stored = np.unique(seg[bad]).astype(int) + int(reduced)
            valid = f'0..{self.num_classes}' if reduced else f'0..{self.num_classes - 1}'
            raise ValueError(f'label map {path} holds values {stored[:8].tolist()} outside {valid} '
                             f'(and {self.ignore_index}) for {self.num_classes} classes; fix the '
                             'file or the number of classes')
        return results

    def __repr__(self):
        return f'{type(self).__name__}(num_classes={self.num_classes})'


@TRANSFORMS.register_module()
class SafeLoadSegAnnotations(LoadAnnotations):
    """``LoadAnnotations`` that reports and skips (returns None for) an unreadable label map."""

    def transform(self, results):
        try:
            return super().transform(results)
        except UnreadableSample as bad:
            report_skipped(bad.path, bad.reason)
            return None

    def _load_seg_map(self, results):
        path = results['seg_map_path']
        try:
            with open(path, 'rb') as f:
                problem = bytes_problem(f.read())
        except OSError as err:
            problem = f'cannot read the file ({err.strerror or err})'
        if problem:
            raise UnreadableSample(path, f'label map: {problem}')
        try:
            super()._load_seg_map(results)
        except Exception as err:   # Pillow's and numpy's errors on a broken PNG
            raise UnreadableSample(path, f'label map cannot be decoded ({err})') from None
