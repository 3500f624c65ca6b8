"""Export the backbone of a finetuned classifier as the weights the det/seg configs initialise from.

    python tools/export_backbone.py work_dirs/finetune_convnextv2_tiny_300e_in1k/epoch_300.pth
        # -> checkpoints/convnextv2_tiny_1k_224_backbone.pth
    python tools/export_backbone.py CKPT --out PATH [--weights ema|raw] [--tag 1k_224] [--force]

CKPT: a finetune checkpoint of tools/finetune.py (with EMA, mmengine stores the EMA weights in
``state_dict`` and the raw ones in ``ema_state_dict``), or an official / timm classifier
checkpoint. The backbone (no head, no final norm) is written as ``{'state_dict': ..., 'meta': ...}``
with the backbone's own names; the det/seg configs load it with
``init_cfg=dict(type='Pretrained', checkpoint=PATH)``. Before the file is written the weights are
loaded strictly into a ConvNeXt V2 of the size found, and read back the way ``init_cfg`` reads
them; the file is written atomically, and an existing one is kept unless ``--force``.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from backbones.atomic_io import atomic_save  # noqa: E402
from backbones.checkpoint import (CheckpointError, canonical_backbone_weights,  # noqa: E402
                                  infer_arch, load_canonical, read_checkpoint)
from backbones.convnextv2 import ConvNeXtV2  # noqa: E402
from backbones.variants import arch_name  # noqa: E402

WEIGHTS = ('auto', 'ema', 'raw')


def default_output(size, tag='1k_224'):
    """``checkpoints/convnextv2_<size>_<tag>_backbone.pth``: where the det/seg configs look."""
    return osp.join('checkpoints', f'convnextv2_{size}_{tag}_backbone.pth')


def select_weights(checkpoint, path, weights='auto'):
    """(state dict container, description) of the EMA or the raw weights of a checkpoint."""
    if weights not in WEIGHTS:
        raise CheckpointError(f'--weights {weights}: choose one of {", ".join(WEIGHTS)}')
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'{path} holds a {type(checkpoint).__name__}, not a checkpoint dict')
    if 'ema_state_dict' in checkpoint and 'state_dict' in checkpoint:   # mmengine + EMAHook
        if weights == 'raw':
            raw = {k[len('module.'):]: v for k, v in checkpoint['ema_state_dict'].items()
                   if k.startswith('module.')}
            return {'state_dict': raw}, 'raw weights (ema_state_dict of an EMA run)'
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


def backbone_weights(checkpoint, path, weights='auto'):
    """(backbone state dict with the backbone's names, (depths, dims), report lines)."""
    container, which = select_weights(checkpoint, path, weights)
    layout, canonical = canonical_backbone_weights(container, path)
    arch = infer_arch(canonical)
    if arch is None:
        raise CheckpointError(f'{path} has no ConvNeXt V2 stem/downsample weights; '
                              'is it a ConvNeXt V2 classifier checkpoint?')
    model = ConvNeXtV2(arch=dict(depths=arch[0], dims=arch[1]), norm_out=False)
    own = model.state_dict()
    backbone = {k: v.contiguous() for k, v in canonical.items() if k in own}
    load_canonical(model, backbone, source=path)   # raises, naming missing keys / wrong shapes
    model.load_state_dict(backbone, strict=True)
    return backbone, arch, [f'read {path}: {layout}; {which}']


def export(src, dst=None, weights='auto', tag='1k_224', force=False):
    """Write the backbone of ``src`` to ``dst``; return the report lines. Raises CheckpointError."""
    backbone, (depths, dims), report = backbone_weights(read_checkpoint(src), src, weights)
    size = arch_name(depths, dims)
    dst = dst or default_output(size, tag)
    if osp.exists(dst) and not force:
        raise CheckpointError(f'{dst} exists; pass --force to overwrite it')
    out = {'state_dict': backbone,
           'meta': dict(arch=size, source=osp.abspath(src), weights=report[0].split('; ')[-1])}

    # read back as a det/seg backbone does (init_cfg -> backbones.checkpoint), output norms fresh
    _, reread = canonical_backbone_weights(out, dst)
    load_canonical(ConvNeXtV2(arch=dict(depths=depths, dims=dims)), reread, source=dst)

    atomic_save(out, dst)
    params = sum(v.numel() for v in backbone.values())
    return report + [f'ConvNeXt V2-{size} backbone: {params / 1e6:.2f}M parameters in '
                     f'{len(backbone)} tensors, strictly loaded', f'wrote {dst}']


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='finetuned classifier checkpoint')
    parser.add_argument('--out', help='output file (default checkpoints/convnextv2_<size>_<tag>'
                                      '_backbone.pth)')
    parser.add_argument('--tag', default='1k_224', help='middle of the default output name')
    parser.add_argument('--weights', choices=WEIGHTS, default='auto',
                        help='auto: EMA weights when the checkpoint has them, else the raw ones')
    parser.add_argument('--force', action='store_true', help='overwrite an existing output')
    args = parser.parse_args(argv)
    try:
        for line in export(args.checkpoint, args.out, args.weights, args.tag, args.force):
            print(line)
    except CheckpointError as err:
        sys.exit(f'export_backbone: {err}')


if __name__ == '__main__':
    main()
