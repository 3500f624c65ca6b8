"""FCMAE reconstructions as a picture: original | masked | reconstruction | reconstruction with the
visible patches pasted back, one row per image (``tools/visualize_fcmae.py``)."""
import os.path as osp

import torch
from PIL import Image, ImageDraw
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from backbones.checkpoints import (CheckpointError, infer_arch, read_checkpoint, state_dict_of,
                                   strip_module_prefix)
from backbones.checkpoints.layouts import to_canonical
from backbones.checkpoints.load import FCMAE_ONLY

from .dataset import find_images
from .fcmae import FCMAE
from .masking import patchify, unpatchify, upsample_patches

MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
COLUMNS = ('original', 'masked', 'reconstruction', 'recon + visible')


def fcmae_from_checkpoint(path):
    """An FCMAE model with the weights of any FCMAE checkpoint layout."""
    state_dict, _ = state_dict_of(read_checkpoint(path), path)
    state_dict = strip_module_prefix(state_dict)
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
def reconstruct(model, images, mask_ratio, raw_pixels=False, removed=None):
    """(loss, original, masked, reconstruction, pasted) as normalised NCHW images; masked
    patches show grey (RGB images with the ImageNet statistics) or the mean (any other)."""
    loss, pred, removed = model(images, mask_ratio, removed=removed)
    p = model.patch_size
    grid = (images.shape[2] // p, images.shape[3] // p)
    if not raw_pixels:   # undo the per-patch normalisation with the true patch's statistics
        target = patchify(images, p)
        pred = pred * (target.var(-1, keepdim=True) + 1e-6).sqrt() + target.mean(-1, keepdim=True)
    recon = unpatchify(pred, grid, p, images.shape[1])
    removed = upsample_patches(removed, grid, p)
    fill = (127.5 - MEAN) / STD if images.shape[1] == 3 else 0.0
    masked = images * (1 - removed) + fill * removed
    return loss, images, masked, recon, images * (1 - removed) + recon * removed


def to_pil(image, stretch=False):
    """An RGB picture of one normalised CHW image: the ImageNet statistics undone, or with
    ``stretch`` (any channel count and unit) each normalised value z shown as 127.5 + 40 z,
    channels 0-2 as RGB (grey for one channel; channel 0 for two)."""
    if not stretch:
        pixels = (image.unsqueeze(0) * STD + MEAN).clamp(0, 255).squeeze(0)
    else:
        shown = image[:3] if image.shape[0] >= 3 else image[:1].expand(3, -1, -1)
        pixels = (127.5 + 40.0 * shown).clamp(0, 255)
    return Image.fromarray(pixels.permute(1, 2, 0).round().byte().numpy())


def picture(columns, label_height=14, stretch=False):
    rows, size = columns[0].shape[0], columns[0].shape[-1]
    height = columns[0].shape[-2]
    canvas = Image.new('RGB', (size * len(columns), label_height + height * rows), 'white')
    draw = ImageDraw.Draw(canvas)
    for c, name in enumerate(COLUMNS[:len(columns)]):
        draw.text((c * size + 2, 1), name, fill='black')
        for r in range(rows):
            canvas.paste(to_pil(columns[c][r], stretch), (c * size, label_height + r * height))
    return canvas
