"""FCMAE's own preflight (``tools/pretrain_fcmae.py`` calls it before the Runner exists): the image
folder holds images, its first images have the model's channel count, the normalisation has one
value per channel, and an ``encoder_init`` checkpoint fits the encoder's size. One line each
(``PreflightError``), before any work.
"""
import os.path as osp

import torch

from backbones.checkpoints import CheckpointError
from backbones.checkpoints.load import check_fits
from engine.image_files import UnreadableSample
from engine.preflight import PreflightError

from .dataset import find_images
from .image_reading import as_channels, read_array

SAMPLED_IMAGES = 8   # images whose channel count is read up front (the rest: skipped when wrong)


def check_fcmae(cfg):
    """Raise ``PreflightError`` on the first problem of an FCMAE config; return notes."""
    model = cfg.model
    in_channels = model.get('in_channels', 3)
    notes = [check_images(cfg.train_dataloader.dataset, in_channels)]
    check_normalisation(model.get('data_preprocessor') or {}, in_channels)
    if model.get('encoder_init'):
        notes.append(check_encoder_init(model, in_channels))
    return [n for n in notes if n]


def check_images(dataset, in_channels):
    """An ``OwnImageFolder``'s images (an ImageNet folder: engine/preflight.py's folder check)."""
    if dataset.get('type') != 'OwnImageFolder':
        return None
    try:
        paths = find_images(dataset['data_root'])
    except FileNotFoundError as err:
        raise PreflightError(str(err)) from None
    if dataset.get('in_channels', 3) != in_channels:
        raise PreflightError(f'the dataset reads in_channels={dataset.get("in_channels", 3)} but the '
                             f'model has in_channels={in_channels}; set both to the channel count '
                             'of your images')
    for path in paths[:SAMPLED_IMAGES]:
        try:
            as_channels(read_array(path), in_channels, path)
        except UnreadableSample as err:
            if 'channel' in err.reason:
                raise PreflightError(f'image {err.path} {err.reason}') from None
    return f'{len(paths)} images in {dataset["data_root"]} ({in_channels} channels)'


def check_normalisation(preprocessor, in_channels):
    for name in ('mean', 'std'):
        values = preprocessor.get(name)
        if values is not None and len(values) not in (1, in_channels):
            raise PreflightError(
                f'model.data_preprocessor.{name} has {len(values)} values but in_channels is '
                f'{in_channels}; give one per channel (tools/dataset_stats.py FOLDER prints them)')


def check_encoder_init(model, in_channels):
    """Check a local (or already cached) ``encoder_init`` checkpoint against the encoder."""
    from backbones.checkpoints.download import cache_path, is_url
    from backbones.convnextv2 import ConvNeXtV2
    from .fcmae import pretrained_init_cfg
    try:
        init = pretrained_init_cfg(model['encoder_init'])
    except ValueError as err:
        raise PreflightError(str(err)) from None
    checkpoint = init['checkpoint']
    if checkpoint.startswith('hf-hub:'):
        return f'encoder_init {checkpoint}: resolved by the loader when the run starts'
    path = cache_path(checkpoint) if is_url(checkpoint) else checkpoint
    if is_url(checkpoint) and not osp.isfile(path):
        return f'encoder_init {checkpoint} is downloaded when the run starts'
    if not osp.isfile(path):
        raise PreflightError(f'encoder_init checkpoint {checkpoint} does not exist; give a file, '
                             'URL or hub id of ConvNeXt V2 weights (tools/download_weights.py '
                             '--list names the released FCMAE ones)')
    with torch.device('meta'):
        encoder = ConvNeXtV2(model.get('arch', 'base'), in_channels=in_channels, out_indices=(3,),
                             norm_out=False)
    try:
        report = check_fits(encoder, path, checkpoint, init.get('prefix'))
    except CheckpointError as err:
        raise PreflightError(f'encoder_init: {err}') from None
    return f'encoder_init {checkpoint} fits ({report})'
