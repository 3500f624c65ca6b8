"""FCMAE model checks (paper §3, Figure 2, Table 1, Appendix A.2): no leak from removed pixels,
exact mask counts and strides, the loss over removed patches only, and the model's shape."""
import pytest
import torch

from backbones.checkpoints.layouts import is_dense_fcmae
from backbones.convnextv2 import ConvNeXtV2
from backbones.layers import Block
from pretrain.fcmae import FCMAE
from pretrain.masking import (num_removed, patch_grid, patchify, random_removed_patches, unpatchify,
                              upsample_patches)

TINY = dict(depths=(1, 1, 2, 1), dims=(8, 16, 32, 64))
STAGE_STRIDES = (4, 8, 16, 32)


def fcmae64(arch, seed=0):
    """A float64 FCMAE with random GRN parameters (zero at init, which would hide a GRN leak)."""
    torch.manual_seed(seed)
    model = FCMAE(arch=arch, decoder_dim=32).double().eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if '.grn.' in name:
                param.normal_(std=0.5)
    return model


def perturb_removed_pixels(images, removed, grid, seed=1):
    removed = upsample_patches(removed, grid, 32).to(images.dtype)
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed), dtype=images.dtype)
    return images + 100 * noise * removed


@pytest.mark.parametrize('arch, size', [('atto', (64, 96)), ('atto', (96, 64)), (TINY, (160, 128)),
                                        (TINY, (224, 224)), (TINY, (128, 160))])
def test_no_leak_from_removed_pixels_at_any_stage(arch, size):
    """Changing only removed pixels leaves every visible feature of every stage bit-identical."""
    model = fcmae64(arch)
    model.encoder.out_indices = (0, 1, 2, 3)
    images = torch.randn(2, 3, *size, dtype=torch.float64)
    grid = patch_grid(images, 32)
    removed = random_removed_patches(2, grid, 0.6, generator=torch.Generator().manual_seed(0)).double()
    changed = perturb_removed_pixels(images, removed, grid)
    visible = 1 - removed.reshape(2, 1, *grid)
    with torch.no_grad():
        before, after = model.encoder(images, visible), model.encoder(changed, visible)
        leaky_before, leaky_after = model.encoder(images), model.encoder(changed)
    for stage, (a, b) in enumerate(zip(before, after)):
        keep = 1 - upsample_patches(removed, grid, 32 // STAGE_STRIDES[stage])
        assert a.shape[-2:] == keep.shape[-2:]
        assert torch.equal(a * keep, b * keep), f'stage {stage}: removed pixels leak'
        assert torch.count_nonzero(a * (1 - keep)) == 0, f'stage {stage}: removed positions not 0'
        # the same change without the mask does reach visible positions: the check can fail
        assert not torch.equal(leaky_before[stage] * keep, leaky_after[stage] * keep)


@pytest.mark.parametrize('size', [(64, 96), (160, 128)])
def test_prediction_ignores_removed_pixels(size):
    """The decoder sees encoder features and mask tokens only: pred is bit-identical."""
    model = fcmae64(TINY)
    images = torch.randn(2, 3, *size, dtype=torch.float64)
    grid = patch_grid(images, 32)
    removed = random_removed_patches(2, grid, 0.6, generator=torch.Generator().manual_seed(3)).double()
    with torch.no_grad():
        _, pred, _ = model(images, removed=removed)
        _, pred_changed, _ = model(perturb_removed_pixels(images, removed, grid), removed=removed)
    assert torch.equal(pred, pred_changed)


@pytest.mark.parametrize('grid', [(7, 7), (3, 5), (4, 2), (10, 10), (1, 3)])
@pytest.mark.parametrize('ratio', [0.0, 0.29, 0.5, 0.6, 0.75])
def test_mask_keeps_exactly_floor_of_the_kept_fraction(grid, ratio):
    removed = random_removed_patches(16, grid, ratio, generator=torch.Generator().manual_seed(0))
    length = grid[0] * grid[1]
    assert removed.shape == (16, length)
    assert set(removed.unique().tolist()) <= {0.0, 1.0}
    kept = int((1 - ratio) * length + 1e-6)   # the official len_keep = int(L * (1 - ratio))
    assert ((1 - removed).sum(dim=1) == kept).all()
    assert (removed.sum(dim=1) == length - kept).all()


def test_mask_counts_of_the_paper_setting():
    assert num_removed(49, 0.6) == 30          # 224x224: 7x7 patches, int(49 * 0.4) = 19 kept (official)
    assert num_removed(100, 0.29) == 29        # float error absorbed ((1 - 0.29) * 100 < 71)
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match='mask_ratio'):
            num_removed(49, bad)


def test_masks_are_random_per_image_and_uniform_over_positions():
    removed = random_removed_patches(4000, (7, 7), 0.6, generator=torch.Generator().manual_seed(0))
    assert len({tuple(row.tolist()) for row in removed[:64]}) == 64
    frequency = removed.mean(dim=0)
    assert torch.allclose(frequency, torch.full_like(frequency, 30 / 49), atol=0.03)


@pytest.mark.parametrize('size', [(64, 96), (224, 160)])
def test_mask_upsampling_matches_stage_strides(size):
    """The patch mask at every stage is the 32-pixel patch grid repeated 32 / stride times."""
    images = torch.randn(3, 3, *size)
    grid = patch_grid(images, 32)
    removed = random_removed_patches(3, grid, 0.6, generator=torch.Generator().manual_seed(0))
    encoder = ConvNeXtV2(TINY, norm_out=False)
    with torch.no_grad():
        features = encoder(images, 1 - removed.reshape(3, 1, *grid))
    for stride, feature in zip(STAGE_STRIDES, features):
        stage_mask = upsample_patches(removed, grid, 32 // stride)
        assert stage_mask.shape[-2:] == (size[0] // stride, size[1] // stride) == feature.shape[-2:]
        removed_rows = stage_mask[:, 0].reshape(3, grid[0], 32 // stride, grid[1], 32 // stride)
        assert torch.equal(removed_rows, removed.reshape(3, grid[0], 1, grid[1], 1).expand_as(removed_rows))
        assert (feature.abs().sum(1, keepdim=True)[stage_mask == 1] == 0).all()
        assert (feature.abs().sum(1, keepdim=True)[stage_mask == 0] > 0).all()
    pixels = upsample_patches(removed, grid, 32)
    assert torch.equal(patchify(pixels.expand(-1, 3, -1, -1), 32).amax(-1), removed)


def test_patchify_round_trip_non_square():
    images = torch.randn(2, 3, 64, 160)
    patches = patchify(images, 32)
    assert patches.shape == (2, 10, 32 * 32 * 3)
    assert torch.equal(patches[0, 6], images[0, :, 32:64, 32:64].permute(1, 2, 0).reshape(-1))
    assert torch.equal(unpatchify(patches, (2, 5), 32), images)


def test_input_not_multiple_of_32_is_refused():
    with pytest.raises(ValueError, match='not a multiple of the 32-pixel patch'):
        FCMAE(arch=TINY)(torch.randn(1, 3, 100, 96))


def reference_loss(images, pred, removed, norm_pix):
    """Straight float64 loops over images and patches (MAE's definition)."""
    total, count = 0.0, 0
    n, c, height, width = images.shape
    for i in range(n):
        for index in range(removed.shape[1]):
            if removed[i, index] == 0:
                continue
            row, col = divmod(index, width // 32)
            patch = images[i, :, row * 32:(row + 1) * 32, col * 32:(col + 1) * 32]
            target = patch.permute(1, 2, 0).reshape(-1)
            if norm_pix:
                target = (target - target.mean()) / (target.var(unbiased=True) + 1e-6) ** 0.5
            total += float(((pred[i, index] - target) ** 2).mean())
            count += 1
    return total / count


@pytest.mark.parametrize('norm_pix', [True, False])
def test_loss_matches_float64_reference_and_ignores_visible_patches(norm_pix):
    model = FCMAE(arch=TINY, decoder_dim=32, norm_pix_loss=norm_pix).double()
    images = torch.randn(3, 3, 64, 96, dtype=torch.float64) * 2 + 0.5
    removed = random_removed_patches(3, (2, 3), 0.6, generator=torch.Generator().manual_seed(0)).double()
    pred = torch.randn(3, 6, 32 * 32 * 3, dtype=torch.float64)
    loss = model.forward_loss(images, pred, removed)
    assert abs(loss.item() - reference_loss(images, pred, removed, norm_pix)) < 1e-12

    visible_changed = pred + 1000 * torch.randn_like(pred) * (1 - removed)[..., None]
    assert torch.equal(model.forward_loss(images, visible_changed, removed), loss)
    removed_changed = pred + 1000 * torch.randn_like(pred) * removed[..., None]
    assert model.forward_loss(images, removed_changed, removed) > loss + 1


def test_forward_returns_loss_pred_mask_and_a_loss_dict_for_the_runner():
    model = FCMAE(arch=TINY, decoder_dim=32)
    images = torch.randn(2, 3, 64, 96)
    loss, pred, removed = model(images, 0.5)
    assert pred.shape == (2, 6, 3072) and removed.shape == (2, 6) and loss.ndim == 0
    assert (removed.sum(1) == 3).all()
    losses = model(images, mode='loss')
    assert set(losses) == {'loss'} and torch.isfinite(losses['loss'])


def test_fcmae_base_encoder_is_the_backbone_and_the_decoder_is_one_block_of_512():
    model = FCMAE(arch='base')
    backbone = ConvNeXtV2('base', norm_out=False)
    encoder_shapes = {k: v.shape for k, v in model.encoder.state_dict().items()}
    assert encoder_shapes == {k: v.shape for k, v in backbone.state_dict().items()}
    encoder_params = sum(p.numel() for p in model.encoder.parameters())
    assert encoder_params == sum(p.numel() for p in backbone.parameters())
    # Table 14: 89M for the classifier = encoder + final LayerNorm + 1000-way head
    classifier_params = encoder_params + 2 * 1024 + 1024 * 1000 + 1000
    assert round(classifier_params / 1e6) == 89   # typed from Table 14

    assert len(model.decoder) == 1 and isinstance(model.decoder[0], Block)
    assert model.decoder[0].dwconv.in_channels == 512
    assert (model.proj.in_channels, model.proj.out_channels) == (1024, 512)
    assert (model.pred.in_channels, model.pred.out_channels) == (512, 32 * 32 * 3)
    assert model.mask_token.shape == (1, 512, 1, 1)
    names = model.state_dict().keys()
    assert {k.split('.')[0] for k in names} == {'encoder', 'proj', 'mask_token', 'decoder', 'pred'}
    assert is_dense_fcmae(model.state_dict())


def test_decoder_depth_and_width_are_options():
    model = FCMAE(arch=TINY, decoder_dim=48, decoder_depth=2)
    assert len(model.decoder) == 2 and model.mask_token.shape == (1, 48, 1, 1)
    loss, pred, _ = model(torch.randn(1, 3, 64, 64))
    assert pred.shape == (1, 4, 3072) and torch.isfinite(loss)


def test_loss_falls_when_fitting_fixed_masked_images():
    """Gradients reach encoder and decoder through the masked path: a fixed problem is learned."""
    torch.manual_seed(0)
    images = torch.randn(4, 3, 64, 64).cumsum(-1).cumsum(-2) / 20   # smooth, learnable content
    removed = random_removed_patches(4, (2, 2), 0.5, generator=torch.Generator().manual_seed(0))
    model = FCMAE(arch=TINY, decoder_dim=64)
    model.init_weights()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95))
    losses = []
    for _ in range(20):
        loss, _, _ = model(images, removed=removed)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(p.grad is not None for p in model.parameters())
    assert losses[-1] < 0.5 * losses[0], losses
