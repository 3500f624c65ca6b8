"""Picture of FCMAE reconstructions, one row per image:
original | masked input | reconstruction | reconstruction with the visible patches pasted back.

    python tools/visualize_fcmae.py CKPT IMAGE_OR_FOLDER [...] --out recon.png
        [--num 4] [--size 224] [--mask-ratio 0.6] [--seed 0] [--raw-pixels]

CKPT: any FCMAE checkpoint (this project's, the official sparse or dense one); the size and the
decoder are read from its weights. A model trained with ``norm_pix_loss=True`` (the default)
predicts per-patch normalised pixels; as in MAE's demo they are shown with the mean and variance
of the true patch put back (``--raw-pixels`` for models trained with ``norm_pix_loss=False``).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from torchvision.transforms import functional as TF  # noqa: E402
from torchvision.transforms import InterpolationMode  # noqa: E402

from backbones.checkpoint import (CheckpointError, infer_arch, read_checkpoint,  # noqa: E402
                                  state_dict_of)
from backbones.checkpoint_layouts import to_canonical  # noqa: E402
from pretrain.dataset import find_images  # noqa: E402
from pretrain.fcmae import FCMAE  # noqa: E402
from pretrain.masking import patchify, unpatchify, upsample_mask  # noqa: E402
from tools.convert_fcmae import FCMAE_ONLY  # noqa: E402

MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
COLUMNS = ('original', 'masked', 'reconstruction', 'recon + visible')


def fcmae_from_checkpoint(path):
    """An FCMAE model with the weights of any FCMAE checkpoint layout."""
    state_dict, _ = state_dict_of(read_checkpoint(path), path)
    state_dict = {k[7:] if k.startswith('module.') else k: v for k, v in state_dict.items()}
    try:
        layout, canonical = to_canonical(state_dict)
    except ValueError as err:
        raise CheckpointError(f'{path}: {err}') from None
    if 'FCMAE' not in layout or 'proj.weight' not in canonical:
        raise CheckpointError(f'{path} is not a full FCMAE checkpoint with its decoder '
                              f'(layout: {layout}); nothing to reconstruct with')
    depths, dims = infer_arch(canonical)
    decoder_depth = len({k.split('.')[1] for k in canonical if k.startswith('decoder.')})
    model = FCMAE(arch=dict(depths=depths, dims=dims),
                  in_channels=canonical['downsample_layers.0.0.weight'].shape[1],
                  decoder_dim=canonical['proj.weight'].shape[0], decoder_depth=decoder_depth)
    weights = {(k if FCMAE_ONLY.match(k) else f'encoder.{k}'): v for k, v in canonical.items()}
    result = model.load_state_dict(weights, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(f'{path} does not fit FCMAE: missing {result.missing_keys[:4]}, '
                              f'unexpected {result.unexpected_keys[:4]}')
    return model.eval()


def load_images(sources, num, size):
    paths = []
    for source in sources:
        paths.extend(find_images(source) if osp.isdir(source) else [source])
    batch = []
    for path in paths[:num]:
        image = Image.open(path).convert('RGB')
        image = TF.center_crop(TF.resize(image, size, InterpolationMode.BICUBIC), size)
        batch.append(TF.pil_to_tensor(image).float())
    return (torch.stack(batch) - MEAN) / STD


@torch.no_grad()
def reconstruct(model, images, mask_ratio, raw_pixels=False):
    """(loss, original, masked, reconstruction, pasted) as normalised NCHW images."""
    loss, pred, mask = model(images, mask_ratio)
    p = model.patch_size
    grid = (images.shape[2] // p, images.shape[3] // p)
    if not raw_pixels:   # undo the per-patch normalisation with the true patch's statistics
        target = patchify(images, p)
        pred = pred * (target.var(-1, keepdim=True) + 1e-6).sqrt() + target.mean(-1, keepdim=True)
    recon = unpatchify(pred, grid, p, images.shape[1])
    removed = upsample_mask(mask, grid, p)
    masked = images * (1 - removed) + ((127.5 - MEAN) / STD) * removed
    return loss, images, masked, recon, images * (1 - removed) + recon * removed


def to_pil(image):
    pixels = (image.unsqueeze(0) * STD + MEAN).clamp(0, 255).squeeze(0)
    return Image.fromarray(pixels.permute(1, 2, 0).round().byte().numpy())


def picture(columns, label_height=14):
    rows, size = columns[0].shape[0], columns[0].shape[-1]
    height = columns[0].shape[-2]
    canvas = Image.new('RGB', (size * len(columns), label_height + height * rows), 'white')
    draw = ImageDraw.Draw(canvas)
    for c, name in enumerate(COLUMNS[:len(columns)]):
        draw.text((c * size + 2, 1), name, fill='black')
        for r in range(rows):
            canvas.paste(to_pil(columns[c][r]), (c * size, label_height + r * height))
    return canvas


def main(argv=None):
    parser = argparse.ArgumentParser(description='FCMAE original / masked / reconstruction picture')
    parser.add_argument('checkpoint', help='FCMAE checkpoint')
    parser.add_argument('images', nargs='+', help='image files or folders')
    parser.add_argument('--out', default='fcmae_reconstruction.png', help='PNG to write')
    parser.add_argument('--num', type=int, default=4, help='number of images')
    parser.add_argument('--size', type=int, default=224, help='square crop side, multiple of 32')
    parser.add_argument('--mask-ratio', type=float, default=0.6)
    parser.add_argument('--seed', type=int, default=0, help='seed of the random masks')
    parser.add_argument('--raw-pixels', action='store_true',
                        help='the model was trained with norm_pix_loss=False')
    args = parser.parse_args(argv)
    if args.size % 32:
        sys.exit(f'--size {args.size} is not a multiple of 32 (the FCMAE patch)')
    try:
        model = fcmae_from_checkpoint(args.checkpoint)
    except CheckpointError as err:
        sys.exit(f'visualize_fcmae: {err}')
    try:
        images = load_images(args.images, args.num, args.size)
    except (OSError, FileNotFoundError) as err:
        sys.exit(f'visualize_fcmae: {err}')
    torch.manual_seed(args.seed)
    loss, *columns = reconstruct(model, images, args.mask_ratio, args.raw_pixels)
    picture(columns).save(args.out)
    print(f'wrote {args.out}: {images.shape[0]} images, mask ratio {args.mask_ratio}, '
          f'loss on removed patches {loss.item():.4f}')


if __name__ == '__main__':
    main()
