"""Export the ConvNeXt V2 backbone of a checkpoint for det/seg configs, or for timm, transformers,
mmpretrain and the official code.

    python tools/export_backbone.py work_dirs/finetune_convnextv2_tiny_300e_in1k/epoch_300.pth
        # -> checkpoints/convnextv2_tiny_1k_224_backbone.pth
    python tools/export_backbone.py IN --format official|timm|hf|mmpretrain|mmdet|backbone
        [--out OUT] [--weights ema|raw] [--tag 1k_224] [--force]

IN: any checkpoint the loader reads: a finetune checkpoint of tools/finetune_imagenet.py (with EMA,
mmengine stores the EMA weights in ``state_dict`` and the raw ones in ``ema_state_dict``), an
official / timm / mmpretrain / transformers classifier (file, ``save_pretrained`` folder or
``hf-hub:ORG/NAME``), a detector or segmentor checkpoint.
--format (OUT defaults to checkpoints/convnextv2_<size>_<tag>_<format>[.pth]):
  backbone    the backbone's own names under ``state_dict`` (no head, no final norm): the det/seg
              configs load it with ``init_cfg=dict(type='Pretrained', checkpoint=OUT)``
  mmdet       the same, ``backbone.``-prefixed (mmdet / mmseg ``load_from`` or init_cfg)
  official    ``{'model': ...}`` as facebookresearch/ConvNeXt-V2 saves it (head and norm if IN has them)
  mmpretrain  an mmpretrain ImageClassifier checkpoint (``backbone.*``, ``head.fc.*``)
  timm        a hub folder OUT/ (model.safetensors + config.json):
              timm.create_model('convnextv2_<size>', pretrained=True,
                                pretrained_cfg_overlay=dict(file='OUT/model.safetensors'))
  hf          a save_pretrained folder OUT/: ConvNextV2ForImageClassification.from_pretrained(OUT)
              (ConvNextV2Model when IN has no head)
Before anything is written the result is read back through the loader and loaded strictly into a
ConvNeXt V2 of the size found; it is written atomically, and an existing OUT is kept unless --force.
"""
import argparse
import sys

from backbones.checkpoints import CheckpointError
from backbones.checkpoints.export import EXPORT_FORMATS
from backbones.checkpoints.extract import WEIGHTS, export_backbone


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('checkpoint', metavar='IN', help='checkpoint file, folder or hf-hub:ORG/NAME')
    parser.add_argument('--out', help='output file or folder (default checkpoints/convnextv2_<size>_'
                                      '<tag>_<format>[.pth])')
    parser.add_argument('--format', choices=EXPORT_FORMATS, default='backbone',
                        help='what to write (see above); default backbone')
    parser.add_argument('--tag', default='1k_224', help='middle of the default output name')
    parser.add_argument('--weights', choices=WEIGHTS, default='auto',
                        help='auto: EMA weights when the checkpoint has them, else the raw ones')
    parser.add_argument('--force', action='store_true', help='overwrite an existing output')
    args = parser.parse_args(argv)
    try:
        for line in export_backbone(args.checkpoint, args.out, args.weights, args.tag, args.force,
                                    args.format):
            print(line)
    except CheckpointError as err:
        sys.exit(f'export_backbone: {err}')


if __name__ == '__main__':
    main()
