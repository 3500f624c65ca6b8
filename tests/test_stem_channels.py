"""RGB weights into a 1- or 4-channel stem (official ConvNeXt-V2 #80), as timm's adapt_input_conv.

Reference: the adaptation written out by hand here (sum over RGB for one channel; R, G, B, R, ...
scaled by 3 / C otherwise), and timm's own ``adapt_input_conv`` where timm is installed.
"""
import pytest
import torch

from backbones.checkpoints import CheckpointError, load_pretrained
from backbones.checkpoints.channels import STEM_WEIGHT, adapt_input_conv
from backbones.convnextv2 import ConvNeXtV2


def hand_adapted(rgb, in_channels):
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    if in_channels == 1:
        return r + g + b
    cycle = [r, g, b]
    return torch.cat([cycle[i % 3] for i in range(in_channels)], dim=1) * (3.0 / in_channels)


@pytest.fixture(scope='module')
def rgb_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = ConvNeXtV2('atto', in_channels=3).double()
    model.init_weights()
    path = tmp_path_factory.mktemp('stem') / 'atto_rgb.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return path, model


@pytest.mark.parametrize('in_channels', [1, 2, 4, 7])
def test_adapt_input_conv_equals_hand_adapted(in_channels):
    rgb = torch.randn(40, 3, 4, 4, dtype=torch.float64)
    adapted = adapt_input_conv(rgb, in_channels)
    assert adapted.shape == (40, in_channels, 4, 4) and adapted.dtype == torch.float64
    torch.testing.assert_close(adapted, hand_adapted(rgb, in_channels), rtol=0, atol=1e-15)
    timm_helpers = pytest.importorskip('timm.models._manipulate')   # the field's reference
    rgb32 = rgb.float()   # timm computes in float32
    torch.testing.assert_close(adapt_input_conv(rgb32, in_channels),
                               timm_helpers.adapt_input_conv(in_channels, rgb32.clone()),
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize('in_channels', [1, 4, 6])
def test_loader_adapts_rgb_stem(rgb_checkpoint, in_channels):
    path, rgb_model = rgb_checkpoint
    model = ConvNeXtV2('atto', in_channels=in_channels).double()
    report = load_pretrained(model, str(path))
    rgb_stem = rgb_model.state_dict()[STEM_WEIGHT]
    torch.testing.assert_close(model.state_dict()[STEM_WEIGHT], hand_adapted(rgb_stem, in_channels),
                               rtol=0, atol=1e-15)
    assert f'stem adapted from 3 input channels to {in_channels}' in report
    # every other tensor arrives unchanged
    for key, value in rgb_model.state_dict().items():
        if key != STEM_WEIGHT:
            assert torch.equal(model.state_dict()[key], value), key
    if in_channels not in (1, 6):
        return
    # what the rule keeps for 1 and 3n channels: an image whose channels all equal one grey image
    # g responds as the RGB image (g, g, g) did (for 4: 3/4 (2R + G + B) g, only near it)
    grey = torch.rand(2, 1, 64, 64, dtype=torch.float64)
    rgb_model.eval(), model.eval()
    with torch.no_grad():
        want = rgb_model(grey.expand(-1, 3, -1, -1))
        got = model(grey.expand(-1, in_channels, -1, -1))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_non_rgb_weights_are_refused_in_one_line(tmp_path):
    four = ConvNeXtV2('atto', in_channels=4)
    path = tmp_path / 'atto_4ch.pth'
    torch.save(four.state_dict(), path)
    with pytest.raises(CheckpointError) as err:
        load_pretrained(ConvNeXtV2('atto', in_channels=3), str(path))
    message = str(err.value)
    assert '\n' not in message and 'cannot adapt a stem of 4 input channels to 3' in message
    assert 'in_channels=4' in message


def test_fcmae_prediction_follows_in_channels():
    from pretrain.fcmae import FCMAE
    for in_channels in (1, 4):
        model = FCMAE('atto', in_channels=in_channels, decoder_dim=32)
        assert model.pred.out_channels == 32 * 32 * in_channels
        assert model.encoder.downsample_layers[0][0].in_channels == in_channels
