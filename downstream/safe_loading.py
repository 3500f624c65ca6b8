"""Training transforms of the det/seg configs that skip an unreadable image instead of crashing.

``SafeLoadImageFromFile`` is mmcv's ``LoadImageFromFile`` (same options, same OpenCV decoding, so
the same pixels) that, for a file that is empty, cut short or not decodable, reports it
(engine/skipped_samples.py: logged once, counted, limited) and returns None: mmengine's
``BaseDataset`` then draws another sample, as it does for any pipeline that returns None. It is
registered in mmengine's root TRANSFORMS, which the mmdet and mmseg registries fall back to.
Use it in training pipelines only: a test-mode dataset refuses a None sample (a broken validation
image is a hard error there; ``tools/check_dataset.py`` finds them up front).
"""
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmengine.registry import TRANSFORMS

from engine.image_files import UnreadableSample, check_bytes, decode_with_opencv
from engine.skipped_samples import report_skipped


@TRANSFORMS.register_module()
class SafeLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` that skips (returns None for) an unreadable image, and reports it."""

    def transform(self, results):
        path = results['img_path']
        try:
            image = load_image(path, self.color_type, self.imdecode_backend, self.backend_args)
        except UnreadableSample as bad:
            report_skipped(bad.path, bad.reason)
            return None
        if self.to_float32:
            image = image.astype(np.float32)
        results['img'] = image
        results['img_shape'] = results['ori_shape'] = image.shape[:2]
        return results


def load_image(path, color_type='color', backend='cv2', backend_args=None):
    """Read and decode like mmcv; ``UnreadableSample`` for a missing, empty, truncated or
    undecodable file."""
    import mmcv
    try:
        data = fileio.get(path, backend_args=backend_args)
    except Exception as err:   # any storage backend's "cannot read"
        raise UnreadableSample(path, f'cannot read the file ({err})') from None
    if backend == 'cv2':
        return decode_with_opencv(path, data, flag=color_type)
    check_bytes(path, data)
    try:
        image = mmcv.imfrombytes(data, flag=color_type, backend=backend)
    except Exception as err:
        raise UnreadableSample(path, f'cannot decode the image ({err})') from None
    if image is None:
        raise UnreadableSample(path, 'cannot decode the image')
    return image
