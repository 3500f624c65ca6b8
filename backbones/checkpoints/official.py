"""Fetch an official ConvNeXt V2 release and prove it usable: download once into the torch hub
cache, load strictly into a backbone of its size, check finite features on a random batch, and
optionally convert it into backbone weights for a config (``tools/download_weights.py``).
"""
import os
import os.path as osp
import shutil
import tempfile

import torch

from engine.atomic_io import atomic_replace

from ..convnextv2 import ConvNeXtV2
from .download import cache_path, cached_file
from .extract import check_format, convert_fcmae, export_backbone
from .load import CheckpointError, load_pretrained
from .released import RELEASES, release

DUMMY_BATCH = (2, 3, 64, 64)


def fetch_release(size, kind):
    """Download (or find cached) and verify a release; return (cached path, report lines)."""
    item = _release(size, kind)
    was_cached = cached_file(item.url) is not None
    model = ConvNeXtV2(size, out_indices=(0, 1, 2, 3), norm_out=False).eval()
    report = load_pretrained(model, item.url)   # raises, one line, on anything wrong
    path = cache_path(item.url)
    images = torch.randn(DUMMY_BATCH, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        features = model(images)
    if not all(torch.isfinite(f).all() for f in features):
        raise CheckpointError(f'{item.url} loads but gives non-finite features on a random batch: '
                              f'the cached file is damaged - delete {path} and run this again')
    params = sum(p.numel() for p in model.parameters())
    shapes = ' '.join('x'.join(map(str, f.shape[1:])) for f in features)
    return path, [f'ConvNeXt V2-{size} {kind} ({_describe(item)}): {item.url}',
                  f'{"cached" if was_cached else "downloaded"}: {path}',
                  f'strictly loaded into ConvNeXt V2-{size} ({params / 1e6:.2f}M parameters); {report}',
                  f'random {"x".join(map(str, DUMMY_BATCH))} batch -> finite features {shapes}']


def save_release(path, size, kind, out=None, fmt=None, force=False):
    """Write the cached release ``path`` to ``out``: converted to backbone weights in format ``fmt``
    (``backbone`` / ``mmdet``), or copied as it is when ``fmt`` is None. Return (out, lines)."""
    if fmt is None:
        if osp.exists(out) and not force:
            raise CheckpointError(f'{out} exists; pass --force to overwrite it')
        _copy(path, out)
        return out, [f'copied to {out}']
    check_format(fmt, option='--convert')
    out = out or osp.join('checkpoints', f'convnextv2_{size}_{_tag(kind)}_{fmt}.pth')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    if kind == 'fcmae':
        return out, convert_fcmae(path, out, fmt, force)
    return out, export_backbone(path, out, force=force, fmt=fmt)


def release_table(kind=None):
    """Lines of the release table (``--list``), with each file's cache state."""
    lines = [f'{"size":6} {"kind":10} {"res":>4} {"top-1":>5}  {"cached":6}  url']
    for item in RELEASES:
        if kind and item.kind != kind:
            continue
        top1 = f'{item.top1:.1f}' if item.top1 is not None else '-'
        cached = 'yes' if cached_file(item.url) else 'no'
        lines.append(f'{item.size:6} {item.kind:10} {item.resolution:>4} {top1:>5}  {cached:6}  '
                     f'{item.url}')
    lines += ['', 'the same weights as hub ids (init_cfg checkpoint=ID, or IN of any tool):',
              f'{"size":6} {"kind":10} {"timm":50} transformers']
    for item in RELEASES:
        if not kind or item.kind == kind:
            lines.append(f'{item.size:6} {item.kind:10} {item.timm_hub_id:50} {item.hf_hub_id or "-"}')
    return lines


def _release(size, kind):
    try:
        return release(size, kind)
    except ValueError as err:
        raise CheckpointError(str(err)) from None


def _describe(item):
    if item.kind == 'fcmae':
        return 'FCMAE-pretrained encoder, no head'
    data = 'IN-22K -> IN-1K' if item.kind.startswith('in22k') else 'IN-1K'
    return f'{data} finetuned EMA at {item.resolution}, top-1 {item.top1}'


def _tag(kind):
    """The middle of the default output name: 1k_224, 22k_384, 1k_224_fcmae."""
    if kind == 'fcmae':
        return '1k_224_fcmae'
    return kind.replace('in', '', 1) if kind.startswith('in22k') else '1k_224'


def _copy(src, dst):
    folder = osp.dirname(osp.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{osp.basename(dst)}.tmp-')
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)   # mkstemp makes 0600
        atomic_replace(tmp, dst)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
