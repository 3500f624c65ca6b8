"""Convert an FCMAE pretraining checkpoint into ConvNeXt V2 backbone weights.

    python tools/convert_fcmae.py IN OUT [--format backbone|mmdet] [--force]

IN, any of:
  * this project's FCMAE checkpoints (work_dirs/<config>/epoch_N.pth, dense ``encoder.*`` names);
  * the official sparse pretraining output (``checkpoint-N.pth`` of the official main_pretrain.py,
    MinkowskiEngine kernels ``encoder.*.kernel``);
  * the official released dense FCMAE files (``convnextv2_<size>_1k_224_fcmae.pt``).
OUT:
  * ``--format backbone`` (default): a plain state dict with the backbone's names, for ImageNet
    finetuning (``init_cfg=dict(type='Pretrained', checkpoint=OUT)`` on ``ConvNeXtV2``);
  * ``--format mmdet``: ``{'state_dict': {'backbone.<name>': ...}}`` for mmdet / mmseg ``init_cfg``
    or ``load_from``.
The decoder, mask token, proj and pred are dropped and listed. The result is loaded strictly into
a ConvNeXt V2 of the size found before it is written (atomically); an existing OUT is kept unless
``--force``.
"""
import argparse
import os.path as osp
import re
import sys
from collections import Counter

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from backbones.atomic_io import atomic_save  # noqa: E402
from backbones.checkpoint import (CheckpointError, canonical_backbone_weights,  # noqa: E402
                                  infer_arch, read_checkpoint)
from backbones.convnextv2 import ConvNeXtV2  # noqa: E402
from backbones.variants import arch_name  # noqa: E402

FCMAE_ONLY = re.compile(r'^(decoder\.|mask_token$|proj\.|pred\.)')
FORMATS = ('backbone', 'mmdet')


def split_fcmae(canonical, source):
    """(backbone state dict, ConvNeXtV2 of its size, Counter of dropped groups)."""
    arch = infer_arch(canonical)
    if arch is None:
        raise CheckpointError(f'{source} has no encoder stem/downsample weights; '
                              'is it an FCMAE checkpoint?')
    model = ConvNeXtV2(arch=dict(depths=arch[0], dims=arch[1]), norm_out=False)
    dropped = Counter(key.split('.')[0] for key in canonical if FCMAE_ONLY.match(key))
    weights = {k: v for k, v in canonical.items() if not FCMAE_ONLY.match(k)}
    load_strictly(model, weights, source)
    return weights, model, dropped


def load_strictly(model, weights, source):
    result = model.load_state_dict(weights, strict=False)
    problems = []
    if result.missing_keys:
        problems.append(f'missing {_short(result.missing_keys)}')
    if result.unexpected_keys:
        problems.append(f'unexpected {_short(result.unexpected_keys)}')
    if problems:
        raise CheckpointError(f'{source} does not load strictly into ConvNeXt V2-'
                              f'{arch_name(model.depths, model.dims)}: {"; ".join(problems)}')


def package(weights, fmt):
    if fmt == 'backbone':
        return {k: v.contiguous() for k, v in weights.items()}
    return {'state_dict': {f'backbone.{k}': v.contiguous() for k, v in weights.items()}}


def convert_file(src, dst, fmt='backbone', force=False):
    """Convert ``src`` to ``dst``; return the lines of a report. Raises CheckpointError."""
    if fmt not in FORMATS:
        raise CheckpointError(f'--format {fmt}: choose one of {", ".join(FORMATS)}')
    if osp.exists(dst) and not force:
        raise CheckpointError(f'{dst} exists; pass --force to overwrite it')
    layout, canonical = canonical_backbone_weights(read_checkpoint(src), src)
    if 'FCMAE' not in layout:
        raise CheckpointError(f'{src} is not an FCMAE checkpoint (found layout: {layout}); it '
                              'already holds backbone weights, load it with init_cfg directly')
    weights, model, dropped = split_fcmae(canonical, src)
    out = package(weights, fmt)

    # verify what is written, read back through the loader that init_cfg uses
    _, reread = canonical_backbone_weights(out, dst)
    check = ConvNeXtV2(arch=dict(depths=model.depths, dims=model.dims), norm_out=False)
    load_strictly(check, reread, dst)

    atomic_save(out, dst)
    params = sum(v.numel() for v in weights.values())
    dropped_text = ', '.join(f'{group} {n}' for group, n in sorted(dropped.items()))
    return [f'read {src}: {layout}',
            f'ConvNeXt V2-{arch_name(model.depths, model.dims)} encoder: {params / 1e6:.2f}M '
            f'parameters in {len(weights)} tensors, strictly loaded into the backbone',
            f'dropped (not backbone; tensors): {dropped_text or "nothing"}',
            f'wrote {dst} (--format {fmt})']


def _short(keys, limit=5):
    more = f' (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return '[' + ', '.join(keys[:limit]) + ']' + more


def main(argv=None):
    parser = argparse.ArgumentParser(description='FCMAE checkpoint -> ConvNeXt V2 backbone weights')
    parser.add_argument('src', metavar='IN', help='FCMAE checkpoint (ours, official sparse or dense)')
    parser.add_argument('dst', metavar='OUT', help='output file')
    parser.add_argument('--format', choices=FORMATS, default='backbone',
                        help='backbone: plain state dict; mmdet: backbone.-prefixed state_dict')
    parser.add_argument('--force', action='store_true', help='overwrite an existing OUT')
    args = parser.parse_args(argv)
    try:
        for line in convert_file(args.src, args.dst, args.format, args.force):
            print(line)
    except CheckpointError as err:
        sys.exit(f'convert_fcmae: {err}')


if __name__ == '__main__':
    main()
