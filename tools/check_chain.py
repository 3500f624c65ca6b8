"""The FCMAE -> IN-1K-style finetune -> det/seg initialisation chain, on a CPU in a few minutes.

    python tools/check_chain.py [--work-dir work_dirs/chain] [--data-root data/synthetic_imagenet]

1. generates the texture classification folder (tools/make_synthetic.py imagenet) when missing;
2. FCMAE-pretrains ConvNeXt V2-atto on its train images (the toy FCMAE config);
3. converts the FCMAE checkpoint into backbone weights (tools/convert_fcmae.py);
4. finetunes the classifier from them (the toy finetune config) and evaluates top-1 on val;
5. exports the EMA backbone (tools/export_backbone.py) and initialises the det and seg toy
   configs' backbones from it, checking every tensor arrived.

Each step is the same command a user runs on real data. Prints a summary and exits non-zero
unless the finetuned top-1 beats chance by ``--min-gain`` points.

Your own images instead (README "Pretraining on your own images"):

    python tools/check_chain.py --own-images DIR --checkpoint CKPT [--size tiny] [--task det|seg|both]

continues FCMAE from CKPT (a file, URL or hub id of any layout; default: the released FCMAE encoder
of --size) on the unlabeled images below DIR with their own mean/std and channel count
(pretrain/configs/fcmae_convnextv2_<size>_continue_custom.py), converts the encoder and initialises
the det and/or seg configs of that size from it, checking every tensor arrived.
"""
import argparse
import json
import os
import os.path as osp
import sys

from reports.chain import (FCMAE_CONFIG, FINETUNE_CONFIG, check_downstream_init, ensure_dataset,
                           fcmae_options, last_checkpoint, own_images_chain, scalars)
from reports.commands import run_tool


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/chain')
    parser.add_argument('--data-root', default='data/synthetic_imagenet')
    parser.add_argument('--fcmae-epochs', type=int, default=6)
    parser.add_argument('--fcmae-size', type=int, default=64, help='FCMAE crop, a multiple of 32')
    # 3x the toy config's 8 epochs: from these FCMAE weights the toy finetune learns more slowly
    # than from a random init (see the README), so the chain gives it longer
    parser.add_argument('--finetune-epochs', type=int, default=24)
    parser.add_argument('--train-per-class', type=int, default=64, help='when the set is generated')
    parser.add_argument('--val-per-class', type=int, default=16, help='when the set is generated')
    parser.add_argument('--min-gain', type=float, default=10.0,
                        help='finetuned top-1 must beat chance by this many points')
    own = parser.add_argument_group('your own images (--own-images DIR)')
    own.add_argument('--own-images', metavar='DIR', help='continue FCMAE on the images below DIR')
    own.add_argument('--checkpoint', help='weights to continue from (default: the released FCMAE '
                                          'encoder of --size)')
    own.add_argument('--size', default='atto', help='ConvNeXt V2 size (atto ... huge)')
    own.add_argument('--task', choices=('det', 'seg', 'both'), default='both',
                     help='which downstream configs to initialise')
    own.add_argument('--epochs', type=int, default=100, help='FCMAE epochs on DIR')
    own.add_argument('--img-size', type=int, default=224, help='FCMAE crop, a multiple of 32')
    own.add_argument('--batch-size', type=int, default=64, help='per GPU')
    own.add_argument('--freeze-epochs', type=int, default=5,
                     help='epochs with the encoder frozen while the fresh decoder settles')
    own.add_argument('--picture-every', type=int, default=10,
                     help='reconstruction picture every N epochs (and after the last)')
    own.add_argument('--effective-batch', type=int, default=1024,
                     help='batch per optimizer step (gradient accumulation; lr = 1.5e-4 x it / 256)')
    args = parser.parse_args(argv)
    if args.own_images:
        _check_own_images_args(parser, args)
        return args
    if args.fcmae_epochs < 2:
        parser.error('--fcmae-epochs must be at least 2 (one warm-up epoch, then cosine decay)')
    return args


def _check_own_images_args(parser, args):
    from backbones.variants import ARCHS
    if args.size not in ARCHS:
        parser.error(f'--size must be one of {", ".join(ARCHS)}, got {args.size}')
    for name in ('epochs', 'img_size', 'batch_size', 'picture_every', 'effective_batch'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be at least 1')
    if args.img_size % 32:
        parser.error(f'--img-size must be a multiple of 32 (the FCMAE patch), got {args.img_size}')
    if not 0 <= args.freeze_epochs < args.epochs:
        parser.error('--freeze-epochs must be in 0 .. --epochs - 1')
    if not args.checkpoint:
        from backbones.checkpoints.released import released_url
        args.checkpoint = released_url(args.size, 'fcmae')


def main(argv=None):
    args = parse_args(argv)
    if args.own_images:
        lines = own_images_chain(args.own_images, args.checkpoint, args.work_dir, args.size,
                                 args.task, args.epochs, args.img_size, args.batch_size,
                                 args.freeze_epochs, args.picture_every, args.effective_batch)
        print('\nown-images chain: continue FCMAE -> convert -> det/seg initialisation')
        print('\n'.join(lines))
        return
    work = args.work_dir
    ensure_dataset(args.data_root, args.train_per_class, args.val_per_class)
    classes = sorted(os.listdir(osp.join(args.data_root, 'train')))

    fcmae_dir = osp.join(work, 'fcmae')
    run_tool('pretrain_fcmae.py', FCMAE_CONFIG, '--work-dir', fcmae_dir, '--cfg-options',
             *fcmae_options(args.data_root, args.fcmae_size, args.fcmae_epochs))
    losses = [r['loss'] for r in scalars(fcmae_dir) if 'loss' in r]

    converted = osp.join(work, 'convnextv2_atto_fcmae_backbone.pth')
    run_tool('convert_fcmae.py', last_checkpoint(fcmae_dir), '--out', converted, '--force')

    finetune_dir = osp.join(work, 'finetune')
    options = [f'recipe.num_classes={len(classes)}', f'recipe.epochs={args.finetune_epochs}']
    run_tool('finetune_imagenet.py', FINETUNE_CONFIG, '--work-dir', finetune_dir, '--data-root',
             args.data_root, '--pretrained', converted, '--cfg-options', *options)
    top1 = [r['accuracy/top1'] for r in scalars(finetune_dir) if 'accuracy/top1' in r]

    exported = osp.join(work, 'convnextv2_atto_1k_224_backbone.pth')
    run_tool('export_backbone.py', last_checkpoint(finetune_dir), '--out', exported, '--force')
    downstream = check_downstream_init(exported)

    chance = 100.0 / len(classes)
    ok = top1[-1] >= chance + args.min_gain
    print(f'\nFCMAE -> finetune chain, ConvNeXt V2-atto, {len(classes)} classes')
    print(f'FCMAE reconstruction loss   {losses[0]:.3f} -> {losses[-1]:.3f} '
          f'({len(losses)} logged steps)')
    print(f'finetune top-1 (EMA, val)   {" ".join(f"{t:.1f}" for t in top1)}  '
          f'(chance {chance:.1f})')
    for line in downstream:
        print(line)
    print(f'finetuned top-1 is {"" if ok else "NOT "}clearly above chance '
          f'(required margin {args.min_gain} points)')
    with open(osp.join(work, 'chain_result.json'), 'w') as f:
        json.dump(dict(fcmae_loss=[losses[0], losses[-1]], top1=top1, chance=chance, ok=ok), f,
                  indent=1)
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
