"""RGB stem weights for a model with another number of input channels (official ConvNeXt-V2 #80).

The rule is timm's ``adapt_input_conv`` (the field's convention, so weights adapted here and there
agree): one channel takes the sum over the three colour weights (a grey image g responds as the
RGB image (g, g, g) did); any other count repeats the RGB weights cyclically (R, G, B, R, ...) and
scales them by 3 / in_channels, which keeps the stem's response near the RGB one's scale (exactly,
for 3n channels: an image whose channels all equal g responds as the RGB image (g, g, g)). Computed in
float32 or wider and returned in the input dtype.
"""
import math

import torch

STEM_WEIGHT = 'downsample_layers.0.0.weight'


def adapt_input_conv(weight, in_channels):
    """``weight`` (out, 3, k, k) of an RGB conv, adapted to ``in_channels`` inputs.

    A weight with 3 * n input channels (n stacked RGB frames) also sums to one channel per frame
    stack when ``in_channels`` is 1, as timm does; any other source count is refused."""
    have = weight.shape[1]
    if have == in_channels:
        return weight
    work = weight.to(torch.promote_types(weight.dtype, torch.float32))
    if in_channels == 1 and have % 3 == 0:
        adapted = work.reshape(work.shape[0], have // 3, 3, *work.shape[2:]).sum(dim=2)
    elif have == 3 and in_channels >= 1:
        repeats = math.ceil(in_channels / 3)
        adapted = work.repeat(1, repeats, 1, 1)[:, :in_channels] * (3 / in_channels)
    else:
        raise ValueError(f'cannot adapt a stem of {have} input channels to {in_channels}: only RGB '
                         f'(3-channel) weights are adapted (to any count, or 3n -> 1); build the '
                         f'model with in_channels={have} or start it from scratch')
    return adapted.to(weight.dtype)


def how_adapted(have, in_channels):
    """The log's words for ``adapt_input_conv(weight with `have` inputs, in_channels)``."""
    if in_channels == 1:
        return f'stem adapted from {have} input channels to 1 (RGB weights summed, as timm\'s adapt_input_conv)'
    return (f'stem adapted from {have} input channels to {in_channels} (RGB weights repeated and '
            f'scaled by 3/{in_channels}, as timm\'s adapt_input_conv)')


def adapt_stem(state_dict, in_channels):
    """(state dict, note): a canonical backbone state dict whose stem takes ``in_channels``.

    The note is '' when nothing changed; the input dict is not modified."""
    weight = state_dict.get(STEM_WEIGHT)
    if weight is None or weight.dim() != 4 or weight.shape[1] == in_channels:
        return state_dict, ''
    adapted = dict(state_dict)
    adapted[STEM_WEIGHT] = adapt_input_conv(weight, in_channels)
    return adapted, how_adapted(weight.shape[1], in_channels)
