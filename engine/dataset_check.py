"""Decode every file of a dataset, in parallel, and list the broken ones (tools/check_dataset.py).

A sample is an image and, for segmentation, its label map. The image must be whole (not empty,
not cut short: see image_files.py) and decode fully with Pillow; the label map too, and it must
have the image's size. Samples come from any dataset this project trains on:

* an mmengine ``BaseDataset`` (mmdet COCO, mmseg ADE20K): ``img_path`` / ``seg_map_path`` of its
  data list;
* any dataset with a ``sample_files()`` method returning such dicts (finetune, FCMAE folders).

An entry may carry ``checks``: functions of the entry returning more [(path, reason)] (the label
values of a segmentation set: downstream/dataset_content.py), run in the same worker.
"""
import io
import multiprocessing
import sys

from .image_files import UnreadableSample, check_bytes, read_file_bytes


def sample_files(dataset):
    """[{'img_path': ..., 'seg_map_path': ... (optional)}] for every sample of ``dataset``."""
    if hasattr(dataset, 'sample_files'):
        return list(dataset.sample_files())
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
        return [{k: info[k] for k in ('img_path', 'seg_map_path') if info.get(k)}
                for info in (dataset.get_data_info(i) for i in range(len(dataset)))]
    for attribute in ('datasets', 'dataset'):   # ConcatDataset, RepeatDataset, ...
        inner = getattr(dataset, attribute, None)
        if inner is not None:
            inners = inner if isinstance(inner, (list, tuple)) else [inner]
            return [entry for d in inners for entry in sample_files(d)]
    raise TypeError(f'{type(dataset).__name__}: cannot list its files (no data list and no '
                    'sample_files())')


def _decode(path):
    from PIL import Image
    data = read_file_bytes(path)
    check_bytes(path, data)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.size
    except Exception as err:   # Pillow raises many types for broken data
        raise UnreadableSample(path, f'cannot decode the image ({err})') from None


def check_sample(entry):
    """[(path, reason)] of what is wrong with one sample (empty if it is fine)."""
    problems, size = [], None
    try:
        size = _decode(entry['img_path'])
    except UnreadableSample as bad:
        problems.append((bad.path, bad.reason))
    label = entry.get('seg_map_path')
    if label:
        try:
            label_size = _decode(label)
            if size is not None and label_size != size:
                problems.append((label, f'label map is {label_size[0]}x{label_size[1]} but its '
                                        f'image {entry["img_path"]} is {size[0]}x{size[1]}'))
        except UnreadableSample as bad:
            problems.append((bad.path, f'label map: {bad.reason}'))
    for check in entry.get('checks', ()):   # content checks a dataset adds ([(path, reason)])
        problems += check(entry)
    return problems


def check_samples(entries, workers=None, progress=True):
    """Check ``entries`` in ``workers`` processes (default: all cores); sorted [(path, reason)]."""
    workers = workers or multiprocessing.cpu_count()
    bad, total = [], len(entries)
    chunk = max(1, min(64, total // (workers * 8) or 1))
    with multiprocessing.get_context('fork').Pool(workers) as pool:
        for done, problems in enumerate(pool.imap_unordered(check_sample, entries, chunk), 1):
            bad.extend(problems)
            if progress and (done == total or done % 200 == 0):
                print(f'\r  {done}/{total} samples checked, {len(bad)} bad file(s)', end='',
                      file=sys.stderr, flush=True)
    if progress and total:
        print(file=sys.stderr)
    return sorted(set(bad))
