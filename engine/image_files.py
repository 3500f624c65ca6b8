"""Tell a readable image file from a broken one: empty, cut short, or not decodable.

OpenCV and Pillow decode a truncated JPEG without an error (OpenCV fills the missing rows with
grey and only prints a libjpeg warning), so "it decoded" is not enough: a JPEG must also end its
last scan with the end-of-image marker, a PNG must end with its IEND chunk. The checks read bytes
already in memory; they cost a reverse search, not a second decode.
"""
import io

import numpy as np

JPEG_START, JPEG_SCAN, JPEG_END = b'\xff\xd8', b'\xff\xda', b'\xff\xd9'
PNG_START, PNG_END = b'\x89PNG\r\n\x1a\n', b'IEND'


class UnreadableSample(Exception):
    """A training sample whose file cannot be used; ``path`` and ``reason`` say which and why."""

    def __init__(self, path, reason):
        super().__init__(f'{path}: {reason}')
        self.path, self.reason = str(path), reason


def bytes_problem(data):
    """Why these image bytes are broken (empty, truncated JPEG/PNG), or None if they look whole."""
    if not data:
        return 'empty file (0 bytes)'
    if data.startswith(JPEG_START):
        last_scan = data.rfind(JPEG_SCAN)
        if last_scan < 0:
            return 'truncated JPEG (it ends before its image data)'
        if data.find(JPEG_END, last_scan) < 0:
            return 'truncated JPEG (no end-of-image marker after the last scan)'
    elif data.startswith(PNG_START) and data.rfind(PNG_END, max(0, len(data) - 4096)) < 0:
        return 'truncated PNG (no IEND chunk)'
    return None


def read_file_bytes(path):
    """The bytes of ``path``; an unreadable file raises ``UnreadableSample``."""
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError as err:
        raise UnreadableSample(path, f'cannot read the file ({err.strerror or err})') from None


def check_bytes(path, data):
    """Raise ``UnreadableSample`` if ``data`` (the bytes of ``path``) is broken."""
    problem = bytes_problem(data)
    if problem:
        raise UnreadableSample(path, problem)


def open_rgb(path):
    """A fully decoded RGB ``PIL.Image`` of ``path``, or ``UnreadableSample`` saying why not."""
    from PIL import Image
    data = read_file_bytes(path)
    check_bytes(path, data)
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.convert('RGB')
    except (OSError, ValueError, SyntaxError) as err:   # what Pillow raises for bad data
        raise UnreadableSample(path, f'cannot decode the image ({err})') from None


def decode_with_opencv(path, data, flag='color'):
    """Decode with mmcv/OpenCV as mmcv's LoadImageFromFile does; ``UnreadableSample`` if broken."""
    import mmcv
    check_bytes(path, data)
    try:
        image = mmcv.imfrombytes(data, flag=flag, backend='cv2')
    except Exception as err:   # cv2.error and friends; the file is what is wrong
        raise UnreadableSample(path, f'cannot decode the image ({err})') from None
    if image is None or not isinstance(image, np.ndarray) or image.size == 0:
        raise UnreadableSample(path, 'cannot decode the image (not an image format OpenCV reads)')
    return image
