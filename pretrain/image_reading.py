"""Read one image of a user's own domain as it is: any bit depth (8/16-bit, float), any channel count.

TIFF files go through ``tifffile`` (multi-channel, planar or interleaved, 16-bit, float); every other
format through OpenCV's ``IMREAD_UNCHANGED`` (16-bit PNG, alpha kept), reordered from OpenCV's BGR(A)
to RGB(A). The values stay in the file's own units (0..65535 for 16-bit): the per-dataset mean and
std of ``tools/dataset_stats.py`` are in those units too, so that reading and normalising agree.
"""
import io
import os

import numpy as np

from engine.image_files import UnreadableSample, check_bytes, read_file_bytes

TIFF_EXTENSIONS = ('.tif', '.tiff')


def read_array(path):
    """(H, W, C) array of ``path`` in its own dtype; ``UnreadableSample`` saying why not."""
    data = read_file_bytes(path)
    check_bytes(path, data)
    if str(path).lower().endswith(TIFF_EXTENSIONS):
        array = _read_tiff(path, data)
    else:
        import cv2
        array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if array is None:
            raise UnreadableSample(path, 'cannot decode the image (not an image, or corrupt)')
        if array.ndim == 3 and array.shape[2] in (3, 4):   # OpenCV's BGR(A) -> RGB(A)
            array = array[:, :, [2, 1, 0, 3][:array.shape[2]]]
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or min(array.shape) == 0:
        raise UnreadableSample(path, f'not a single 2-D image (array of shape {array.shape})')
    return np.ascontiguousarray(array)


def _read_tiff(path, data):
    try:
        import tifffile
    except ImportError:
        raise UnreadableSample(path, 'reading TIFF needs tifffile: pip install -r requirements.txt') from None
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            series = tif.series[0]
            array, axes = series.asarray(), series.axes
    except Exception as err:  # noqa: BLE001 - any decoder failure means an unreadable file
        raise UnreadableSample(path, f'cannot decode the TIFF ({type(err).__name__}: {err})') from None
    if array.ndim == 3 and axes[-2:] == 'YX':   # planar (C, H, W) -> (H, W, C)
        array = np.moveaxis(array, 0, -1)
    return array


def as_channels(array, in_channels, path):
    """``array`` (H, W, C) with ``in_channels`` channels; an RGB model also takes grey (repeated)
    and RGBA (alpha dropped) images, as ImageNet loaders do. Anything else is one line."""
    have = array.shape[2]
    if have == in_channels:
        return array
    if in_channels == 3 and have == 1:
        return np.repeat(array, 3, axis=2)
    if in_channels == 3 and have == 4:
        return array[:, :, :3]
    raise UnreadableSample(path, f'has {have} channel(s) but the model takes in_channels={in_channels}; '
                                 f'set model.in_channels (and the dataset\'s) to {have}, or remove '
                                 f'the file from {os.path.dirname(str(path)) or "."}')
