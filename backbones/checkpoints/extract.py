"""Take the backbone out of a bigger checkpoint and write it, verified, for the next stage.

* ``convert_fcmae``: an FCMAE checkpoint (ours, the official sparse output, the released
  ``pt_only`` encoder) -> backbone weights, decoder / mask token / proj / pred dropped and listed.
* ``export_backbone``: any checkpoint the loader reads (a finetuned classifier, ours with its EMA,
  the official ``model_ema``, a detector, a timm / transformers / mmpretrain file or hub id) ->
  the backbone the det/seg configs initialise from, or the files timm, transformers, mmpretrain
  and the official code load (``export``).
Before anything is written, the result is read back the way ``init_cfg`` reads it and loaded
strictly into a ConvNeXt V2 of the size found; files and folders are written atomically and an
existing one is kept unless ``force``.
"""
import contextlib
import os
import re
import os.path as osp
import shutil
import tempfile
from collections import Counter

import torch

from engine.atomic_io import atomic_save

from ..convnextv2 import ConvNeXtV2
from ..variants import ARCHS, arch_name
from .export import EXPORT_FORMATS, FOLDER_FORMATS, WEIGHTS_NAME, export_weights
from .hub import is_hub_id
from .load import (CLASSIFIER_ONLY, FCMAE_ONLY, CheckpointError, canonical_backbone_weights,
                   infer_arch, load_canonical, read_checkpoint, strip_module_prefix)

FORMATS = ('backbone', 'mmdet')   # what convert_fcmae and download_weights write
WEIGHTS = ('auto', 'ema', 'raw')


def backbone_of_size(canonical, source, norm_out=False, device=None, **options):
    """A fresh ConvNeXtV2 of the size and input channels the canonical weights have, built on
    ``device`` ('meta': no memory, for checking a file key by key and shape by shape)."""
    arch = infer_arch(canonical)
    if arch is None:
        raise CheckpointError(f'{source} has no ConvNeXt V2 stem/downsample weights; '
                              'is it a ConvNeXt V2 checkpoint?')
    in_channels = canonical['downsample_layers.0.0.weight'].shape[1]
    with torch.device(device) if device else contextlib.nullcontext():
        return ConvNeXtV2(arch=dict(depths=arch[0], dims=arch[1]), in_channels=in_channels,
                          norm_out=norm_out, **options)


def split_fcmae(canonical, source):
    """(backbone state dict, ConvNeXtV2 of its size, Counter of the dropped FCMAE groups)."""
    model = backbone_of_size(canonical, source)
    load_canonical(model, canonical, source=source)   # raises on anything that is not FCMAE's
    own = model.state_dict()
    weights = {k: v.contiguous() for k, v in canonical.items() if k in own}
    dropped = Counter(key.split('.')[0] for key in canonical if FCMAE_ONLY.match(key))
    return weights, model, dropped


def check_format(fmt, option='--format', formats=FORMATS):
    """Refuse an output format this module cannot write, naming the ones it can."""
    if fmt not in formats:
        raise CheckpointError(f'{option} {fmt}: choose one of {", ".join(formats)}')


def package(weights, fmt):
    check_format(fmt)
    if fmt == 'backbone':
        return dict(weights)
    return {'state_dict': {f'backbone.{k}': v for k, v in weights.items()}}


def verify_and_save(out, dst, depths, dims):
    """Read ``out`` back as a det/seg backbone does (output norms fresh), then write it atomically."""
    _, reread = canonical_backbone_weights(out, dst)
    load_canonical(ConvNeXtV2(arch=dict(depths=depths, dims=dims), in_channels=_in_channels(reread)),
                   reread, source=dst)
    atomic_save(out, dst)


def convert_fcmae(src, dst, fmt='backbone', force=False):
    """FCMAE checkpoint ``src`` -> backbone weights in ``dst``; return the report lines."""
    check_format(fmt)
    _refuse_overwrite(dst, force)
    layout, canonical = canonical_backbone_weights(read_checkpoint(src), src)
    if 'FCMAE' not in layout:
        raise CheckpointError(f'{src} is not an FCMAE checkpoint (found layout: {layout}); it '
                              'already holds backbone weights, load it with init_cfg directly')
    weights, model, dropped = split_fcmae(canonical, src)
    verify_and_save(package(weights, fmt), dst, model.depths, model.dims)
    params = sum(v.numel() for v in weights.values())
    dropped_text = ', '.join(f'{group} {n}' for group, n in sorted(dropped.items()))
    return [f'read {src}: {layout}',
            f'ConvNeXt V2-{arch_name(model.depths, model.dims)} encoder: {params / 1e6:.2f}M '
            f'parameters in {len(weights)} tensors, strictly loaded into the backbone',
            f'dropped (not backbone; tensors): {dropped_text or "nothing"}',
            f'wrote {dst} (--format {fmt})']


def select_weights(checkpoint, path, weights='auto'):
    """(state dict container, description) of the EMA or the raw weights of a checkpoint."""
    if weights not in WEIGHTS:
        raise CheckpointError(f'--weights {weights}: choose one of {", ".join(WEIGHTS)}')
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'{path} holds a {type(checkpoint).__name__}, not a checkpoint dict')
    if 'ema_state_dict' in checkpoint and 'state_dict' in checkpoint:   # mmengine + EMAHook
        if weights == 'raw':
            # mmengine's EMA wrapper keeps the raw model under 'module.' (and its counter outside)
            raw = {k: v for k, v in checkpoint['ema_state_dict'].items() if k.startswith('module.')}
            return {'state_dict': strip_module_prefix(raw)}, 'raw weights (ema_state_dict of an EMA run)'
        return {'state_dict': checkpoint['state_dict']}, 'EMA weights (state_dict of an EMA run)'
    if 'model_ema' in checkpoint or 'model' in checkpoint:              # official training code
        key = 'model' if weights == 'raw' or 'model_ema' not in checkpoint else 'model_ema'
        if weights == 'ema' and key != 'model_ema':
            raise CheckpointError(f'{path} has no model_ema; use --weights raw')
        return {key: checkpoint[key]}, f'{key} of an official checkpoint'
    if weights == 'ema':
        raise CheckpointError(f'{path} has no EMA weights (no ema_state_dict / model_ema); it was '
                              'trained without EMA: use --weights raw')
    return checkpoint, 'the only weights it has (no EMA in it)'


def backbone_weights(checkpoint, path, weights='auto', extras=False):
    """(backbone state dict with the backbone's names, (depths, dims), report lines); with
    ``extras`` also the classifier / output-norm weights (canonical names) as a fourth item."""
    container, which = select_weights(checkpoint, path, weights)
    layout, canonical = canonical_backbone_weights(container, path)
    model = backbone_of_size(canonical, path)
    own = model.state_dict()
    backbone = {k: v.contiguous() for k, v in canonical.items() if k in own}
    load_canonical(model, backbone, source=path)   # raises, naming missing keys / wrong shapes
    result = backbone, (tuple(model.depths), tuple(model.dims)), [f'read {path}: {layout}; {which}']
    if extras:
        rest = {k: v for k, v in canonical.items()   # the classifier's and the output norms
                if k not in own and (CLASSIFIER_ONLY.match(k) or re.match(r'norm[0-3]\.', k))}
        result += (rest,)
    return result


def default_backbone_path(size, tag='1k_224', fmt='backbone'):
    """``checkpoints/convnextv2_<size>_<tag>_backbone.pth`` (``_<fmt>.pth``; a folder for timm/hf)."""
    suffix = '' if fmt in FOLDER_FORMATS else '.pth'
    return osp.join('checkpoints', f'convnextv2_{size}_{tag}_{fmt}{suffix}')


def export_backbone(src, dst=None, weights='auto', tag='1k_224', force=False, fmt='backbone'):
    """Checkpoint ``src`` (anything the loader reads) -> ``dst`` in format ``fmt`` (see ``export``:
    a file for backbone / mmdet / official / mmpretrain, a hub folder for timm / hf); return the
    report lines. The result is read back through the loader and strictly loaded first."""
    check_format(fmt, formats=EXPORT_FORMATS)
    backbone, (depths, dims), report, extras = backbone_weights(read_checkpoint(src), src, weights,
                                                                extras=True)
    size = arch_name(depths, dims)
    if fmt == 'timm' and size not in ARCHS:
        raise CheckpointError(f'{src} is ConvNeXt V2-{size}: timm has no such model; --format timm '
                              f'needs one of the sizes {", ".join(ARCHS)}')
    dst = dst or default_backbone_path(size, tag, fmt)
    _refuse_overwrite(dst, force)
    out, lines = export_weights(fmt, backbone, extras, size, depths, dims)
    if fmt in FOLDER_FORMATS:
        _verify_and_save_folder(out, dst, depths, dims)
    else:
        out['meta'] = dict(arch=size, source=src if is_hub_id(src) else osp.abspath(src),
                           weights=report[0].split('; ')[-1])
        verify_and_save(out, dst, depths, dims)
    params = sum(v.numel() for v in backbone.values())
    return report + [f'ConvNeXt V2-{size} backbone: {params / 1e6:.2f}M parameters in '
                     f'{len(backbone)} tensors, strictly loaded'] + lines + [
                     f'wrote {dst}' + ('' if fmt == 'backbone' else f' (--format {fmt})')]


def _verify_and_save_folder(files, dst, depths, dims):
    """Write a hub folder under a temporary name, read it back as ``init_cfg`` does, then rename
    it to ``dst`` (an existing ``dst`` is replaced only after the new folder passed)."""
    from safetensors.torch import save_file
    parent = osp.dirname(osp.abspath(dst))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f'.{osp.basename(dst)}.tmp-')
    try:
        for name, content in files.items():
            if name == WEIGHTS_NAME:
                save_file(content, osp.join(tmp, name), metadata={'format': 'pt'})
            else:
                with open(osp.join(tmp, name), 'w', encoding='utf-8') as f:
                    f.write(content)
        os.chmod(tmp, 0o755)   # mkdtemp makes 0700
        _, reread = canonical_backbone_weights(read_checkpoint(tmp), dst)
        model = ConvNeXtV2(arch=dict(depths=depths, dims=dims), in_channels=_in_channels(reread))
        load_canonical(model, reread, source=dst)
        if osp.isdir(dst):
            shutil.rmtree(dst)
        os.replace(tmp, dst)
    finally:
        if osp.isdir(tmp):
            shutil.rmtree(tmp)


def _in_channels(canonical):
    return canonical['downsample_layers.0.0.weight'].shape[1]


def _refuse_overwrite(dst, force):
    if osp.exists(dst) and not force:
        raise CheckpointError(f'{dst} exists; pass --force to overwrite it')
