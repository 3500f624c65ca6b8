"""Hooks for continuing FCMAE on one's own images: the encoder frozen while the fresh decoder
settles, and the reconstruction picture plus the per-epoch loss curve in the work dir and log."""
import os
import os.path as osp

import torch
import torch.nn.functional as F
from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from .dataset import read_tensor
from .masking import patch_grid, random_removed_patches
from .visualize import picture, reconstruct


def _model(runner):
    return runner.model.module if is_model_wrapper(runner.model) else runner.model


@HOOKS.register_module()
class FreezeEncoderHook(Hook):
    """Train only proj, mask token, decoder and pred for the first ``epochs`` epochs, then all.

    A pretrained encoder under a freshly initialised decoder receives the decoder's large, random
    first gradients; freezing it until the decoder has settled keeps what it knows. Under DDP the
    config sets ``find_unused_parameters=True`` (the frozen encoder has no gradients)."""

    def __init__(self, epochs=1):
        if epochs < 0:
            raise ValueError(f'FreezeEncoderHook: epochs must be >= 0, got {epochs}')
        self.epochs = epochs

    def before_train_epoch(self, runner):
        frozen = runner.epoch < self.epochs
        encoder = _model(runner).encoder
        changed = any(p.requires_grad == frozen for p in encoder.parameters())
        for param in encoder.parameters():
            param.requires_grad = not frozen
        if changed:
            runner.logger.info(f'FCMAE: epoch {runner.epoch + 1}: encoder '
                               + ('frozen (decoder warm-up)' if frozen else 'trained from now on'))


@HOOKS.register_module()
class ReconstructionHook(Hook):
    """Every ``interval`` epochs (and after the last), ``work_dir/reconstructions/epoch_N.png``:
    the first ``num_images`` training images, centre-cropped, under fixed masks - original /
    masked / reconstruction / pasted - with their loss; and each epoch one log line with the mean
    training loss of every epoch so far (the loss curve)."""

    priority = 'LOW'

    def __init__(self, interval=10, num_images=4, seed=0):
        self.interval, self.num_images, self.seed = interval, num_images, seed
        self.curve, self._sum, self._count = [], 0.0, 0

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if outputs and 'loss' in outputs:
            self._sum += float(outputs['loss'])
            self._count += 1

    def after_train_epoch(self, runner):
        if self._count:
            self.curve.append(self._sum / self._count)
        self._sum, self._count = 0.0, 0
        runner.logger.info('FCMAE loss per epoch: '
                           + ' '.join(f'{i + 1}:{v:.4f}' for i, v in enumerate(self.curve)))
        last = runner.epoch + 1 == runner.max_epochs
        if self.every_n_epochs(runner, self.interval) or last:
            self._save(runner)

    @master_only
    def _save(self, runner):
        model = _model(runner)
        images = self._images(runner, model)
        if images is None:
            return
        grid = patch_grid(images, model.patch_size)
        generator = torch.Generator().manual_seed(self.seed)
        removed = random_removed_patches(images.shape[0], grid, model.mask_ratio,
                                         generator=generator).to(images.device)
        was_training = model.training
        model.eval()
        loss, *columns = reconstruct(model, images, model.mask_ratio, not model.norm_pix_loss, removed)
        model.train(was_training)
        path = osp.join(runner.work_dir, 'reconstructions', f'epoch_{runner.epoch + 1}.png')
        os.makedirs(osp.dirname(path), exist_ok=True)
        picture([c.float().cpu() for c in columns], stretch=True).save(path)
        runner.logger.info(f'FCMAE reconstruction picture (fixed images and masks, loss '
                           f'{float(loss):.4f}): {path}')

    def _images(self, runner, model):
        dataset = runner.train_dataloader.dataset
        paths = getattr(dataset, 'paths', [])[:self.num_images]
        size = getattr(dataset, 'img_size', None)
        if not paths or size is None:
            return None
        size = size if isinstance(size, int) else min(size)   # a square crop of the smaller side
        in_channels = getattr(dataset, 'in_channels', 3)
        crops = []
        for path in paths:
            image = read_tensor(path, in_channels)[None]
            scale = size / min(image.shape[-2:])
            image = F.interpolate(image, scale_factor=scale, mode='bilinear', antialias=True,
                                  align_corners=False) if scale != 1 else image
            top, left = (image.shape[-2] - size) // 2, (image.shape[-1] - size) // 2
            crops.append(image[..., top:top + size, left:left + size])
        batch = torch.cat(crops)
        preprocessor = model.data_preprocessor
        device = next(model.parameters()).device
        batch = batch.to(device)
        if getattr(preprocessor, '_enable_normalize', False):
            batch = (batch - preprocessor.mean) / preprocessor.std
        return batch
