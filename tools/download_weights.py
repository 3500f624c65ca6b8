"""Download an official ConvNeXt V2 release, verify it, and print the init_cfg line that uses it.

    python tools/download_weights.py --list                        # the release table, cache state, hub ids
    python tools/download_weights.py SIZE KIND                     # e.g. tiny in1k
    python tools/download_weights.py SIZE KIND --format backbone|mmdet [--out PATH] [--force]
    python tools/download_weights.py SIZE KIND --out PATH          # a copy of the file as released

KIND: fcmae (FCMAE encoder, pt_only), in1k (IN-1K finetuned EMA, 224), in22k_224 / in22k_384 /
in22k_512 (IN-22K -> IN-1K, where released). The file goes into the torch hub cache
($TORCH_HOME/hub/checkpoints, shared with torch.hub and mmengine), once; it is verified (layout
found, strict load into a ConvNeXt V2 of SIZE, finite features on a random batch) before it gets
its cache name. The same weights on the Hugging Face hub (timm's and transformers' ids, listed by
--list) load with init_cfg checkpoint='hf-hub:ORG/NAME' as they are. --format writes backbone
weights: from fcmae through tools/convert_fcmae.py's converter, from a finetuned release through
tools/export_backbone.py's export (head and final norm dropped); the default --out is
checkpoints/convnextv2_<size>_<tag>_<format>.pth.
"""
import argparse
import sys
import warnings

from backbones.checkpoints import CheckpointError
from backbones.checkpoints.extract import FORMATS
from backbones.checkpoints.official import fetch_release, release_table, save_release
from backbones.checkpoints.released import KINDS, released_url
from backbones.variants import ARCHS


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('size', nargs='?', choices=list(ARCHS), help='model size')
    parser.add_argument('kind', nargs='?', choices=KINDS, help='which release of that size')
    parser.add_argument('--list', action='store_true', help='print the release table and exit')
    parser.add_argument('--format', choices=FORMATS,
                        help='also write backbone weights (backbone: own names; mmdet: backbone.-prefixed)')
    parser.add_argument('--convert', choices=FORMATS, help=argparse.SUPPRESS)  # the old --format
    parser.add_argument('--out', help='where --format writes (or, without --format, a copy goes)')
    parser.add_argument('--force', action='store_true', help='overwrite an existing --out')
    args = parser.parse_args(argv)
    if args.convert:
        warnings.warn('download_weights: --convert is renamed --format (the name every tool uses); '
                      '--convert goes in the next release', FutureWarning, stacklevel=1)
        args.format = args.format or args.convert
    if args.list:
        print('\n'.join(release_table(args.kind)))
        return
    if not (args.size and args.kind):
        parser.error('give SIZE and KIND (or --list)')
    try:
        path, lines = fetch_release(args.size, args.kind)
        checkpoint = None
        if args.format or args.out:
            checkpoint, more = save_release(path, args.size, args.kind, args.out, args.format,
                                            args.force)
            lines += more
    except CheckpointError as err:
        sys.exit(f'download_weights: {err}')
    print('\n'.join(lines))
    if checkpoint:
        print(f"init_cfg=dict(type='Pretrained', checkpoint='{checkpoint}')"
              f'   # or --cfg-options model.backbone.init_cfg.checkpoint={checkpoint}')
    else:
        print(f"init_cfg=dict(type='Pretrained', checkpoint='{released_url(args.size, args.kind)}')")


if __name__ == '__main__':
    main()
