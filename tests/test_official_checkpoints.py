"""Checkpoints laid out as the official ConvNeXt V2 code writes them load into ``ConvNeXtV2`` and
give the features of a reference forward computed here, from the official tensors themselves.

The fixtures are built in this file from the official conventions written out below, never
through ``backbones.checkpoints.layouts``' exporters: a convention both sides got wrong would
otherwise pass. Sources (read, not copied):

* facebookresearch/ConvNeXt-V2 ``models/convnextv2_sparse.py`` (the FCMAE encoder on
  MinkowskiEngine): the stem is a dense ``nn.Conv2d`` + channels-first ``LayerNorm``;
  ``downsample_layers.{1,2,3}`` = (MinkowskiLayerNorm, MinkowskiConvolution k=2 s=2); a block is
  MinkowskiDepthwiseConvolution k=7, MinkowskiLayerNorm, MinkowskiLinear, GELU, MinkowskiGRN,
  MinkowskiLinear, residual.
* ``models/utils.py``: MinkowskiLayerNorm keeps its ``nn.LayerNorm`` as ``.ln``; MinkowskiGRN has
  gamma/beta of shape (1, C) and normalises over all points of the sparse tensor (the whole batch:
  the references below use one image). MinkowskiEngine's MinkowskiLinear keeps ``.linear``.
* MinkowskiEngine: ``MinkowskiConvolution.kernel`` is (kernel volume, in, out) and its bias
  (1, out); ``MinkowskiDepthwiseConvolution.kernel`` is (kernel volume, C), bias (1, C). The
  kernel volume is walked by ``kernel_region_iterator::operator++`` (src/kernel_region.hpp), which
  advances the first spatial axis fastest; ``to_sparse`` of an (N, C, H, W) tensor makes H that
  first axis. An even kernel spans offsets 0..k-1 from the output point, an odd one -k//2..k//2,
  and out[p] = sum over offsets of in[p + offset] @ kernel[offset's index].
* ``models/fcmae.py``: FCMAE = encoder + ``proj`` (1x1 conv) + ``mask_token`` (1, D, 1, 1) +
  ``decoder`` (dense blocks) + ``pred``; ``main_pretrain.py`` saves model/optimizer/epoch/scaler/args.
  The released ``pt_only`` FCMAE files hold the encoder alone under 'model' with the dense model's
  names; their GRN shape is not documented, so both the dense (1, 1, 1, C) and the sparse (1, C)
  are tried.
* ``models/convnextv2.py`` (the dense model, finetuned): GRN gamma/beta (1, 1, 1, C), ``nn.Linear``
  pwconvs, a final ``norm`` and ``head``; ``main_finetune.py`` adds ``model_ema`` when EMA is on.
"""
import argparse

import pytest
import torch
import torch.nn.functional as F

from backbones import ConvNeXtV2
from backbones.checkpoints.load import load_pretrained

DEPTHS, DIMS = (2, 2, 6, 2), (40, 80, 160, 320)   # ConvNeXt V2-atto
DECODER_DIM = 512                                   # fcmae.py: decoder_embed_dim
EPS = 1e-6


# -- the official tensors, random but non-trivial (GRN and every bias away from zero) ------------
class Tensors:
    def __init__(self, seed):
        self.gen = torch.Generator().manual_seed(seed)

    def normal(self, *shape, std=1.0, mean=0.0):
        return torch.randn(*shape, generator=self.gen) * std + mean

    def conv(self, *shape, fan_in):
        return self.normal(*shape, std=fan_in ** -0.5)


def official_sparse_encoder(t):
    """``SparseConvNeXtV2.state_dict()`` with ``encoder.`` in front (as inside FCMAE)."""
    sd = {'downsample_layers.0.0.weight': t.conv(DIMS[0], 3, 4, 4, fan_in=48),
          'downsample_layers.0.0.bias': t.normal(DIMS[0], std=0.1),
          'downsample_layers.0.1.weight': t.normal(DIMS[0], std=0.1, mean=1.0),
          'downsample_layers.0.1.bias': t.normal(DIMS[0], std=0.1)}
    for i in range(1, 4):
        sd[f'downsample_layers.{i}.0.ln.weight'] = t.normal(DIMS[i - 1], std=0.1, mean=1.0)
        sd[f'downsample_layers.{i}.0.ln.bias'] = t.normal(DIMS[i - 1], std=0.1)
        sd[f'downsample_layers.{i}.1.kernel'] = t.conv(4, DIMS[i - 1], DIMS[i], fan_in=4 * DIMS[i - 1])
        sd[f'downsample_layers.{i}.1.bias'] = t.normal(1, DIMS[i], std=0.1)
    for i, (depth, dim) in enumerate(zip(DEPTHS, DIMS)):
        for j in range(depth):
            p = f'stages.{i}.{j}.'
            sd.update({p + 'dwconv.kernel': t.conv(49, dim, fan_in=49),
                       p + 'dwconv.bias': t.normal(1, dim, std=0.1),
                       p + 'norm.ln.weight': t.normal(dim, std=0.1, mean=1.0),
                       p + 'norm.ln.bias': t.normal(dim, std=0.1),
                       p + 'pwconv1.linear.weight': t.conv(4 * dim, dim, fan_in=dim),
                       p + 'pwconv1.linear.bias': t.normal(4 * dim, std=0.1),
                       p + 'grn.gamma': t.normal(1, 4 * dim, std=0.5),
                       p + 'grn.beta': t.normal(1, 4 * dim, std=0.1),
                       p + 'pwconv2.linear.weight': t.conv(dim, 4 * dim, fan_in=4 * dim * 4),
                       p + 'pwconv2.linear.bias': t.normal(dim, std=0.1)})
    return {'encoder.' + k: v for k, v in sd.items()}


def official_dense_backbone(t, grn_shape=(1, 1, 1, -1)):
    """``ConvNeXtV2`` of models/convnextv2.py without its norm/head."""
    sd = {'downsample_layers.0.0.weight': t.conv(DIMS[0], 3, 4, 4, fan_in=48),
          'downsample_layers.0.0.bias': t.normal(DIMS[0], std=0.1),
          'downsample_layers.0.1.weight': t.normal(DIMS[0], std=0.1, mean=1.0),
          'downsample_layers.0.1.bias': t.normal(DIMS[0], std=0.1)}
    for i in range(1, 4):
        sd[f'downsample_layers.{i}.0.weight'] = t.normal(DIMS[i - 1], std=0.1, mean=1.0)
        sd[f'downsample_layers.{i}.0.bias'] = t.normal(DIMS[i - 1], std=0.1)
        sd[f'downsample_layers.{i}.1.weight'] = t.conv(DIMS[i], DIMS[i - 1], 2, 2, fan_in=4 * DIMS[i - 1])
        sd[f'downsample_layers.{i}.1.bias'] = t.normal(DIMS[i], std=0.1)
    for i, (depth, dim) in enumerate(zip(DEPTHS, DIMS)):
        for j in range(depth):
            p = f'stages.{i}.{j}.'
            sd.update({p + 'dwconv.weight': t.conv(dim, 1, 7, 7, fan_in=49),
                       p + 'dwconv.bias': t.normal(dim, std=0.1),
                       p + 'norm.weight': t.normal(dim, std=0.1, mean=1.0),
                       p + 'norm.bias': t.normal(dim, std=0.1),
                       p + 'pwconv1.weight': t.conv(4 * dim, dim, fan_in=dim),
                       p + 'pwconv1.bias': t.normal(4 * dim, std=0.1),
                       p + 'grn.gamma': t.normal(4 * dim, std=0.5).reshape(grn_shape),
                       p + 'grn.beta': t.normal(4 * dim, std=0.1).reshape(grn_shape),
                       p + 'pwconv2.weight': t.conv(dim, 4 * dim, fan_in=4 * dim * 4),
                       p + 'pwconv2.bias': t.normal(dim, std=0.1)})
    return sd


def fcmae_decoder(t):
    """proj, mask_token, one dense decoder block and pred of models/fcmae.py (patch 32, RGB)."""
    d = DECODER_DIM
    return {'proj.weight': t.normal(d, DIMS[3], 1, 1, std=0.02), 'proj.bias': t.normal(d, std=0.02),
            'mask_token': t.normal(1, d, 1, 1, std=0.02),
            'decoder.0.dwconv.weight': t.normal(d, 1, 7, 7, std=0.02),
            'decoder.0.dwconv.bias': t.normal(d, std=0.02),
            'decoder.0.norm.weight': torch.ones(d), 'decoder.0.norm.bias': torch.zeros(d),
            'decoder.0.pwconv1.weight': t.normal(4 * d, d, std=0.02),
            'decoder.0.pwconv1.bias': torch.zeros(4 * d),
            'decoder.0.grn.gamma': torch.zeros(1, 1, 1, 4 * d),
            'decoder.0.grn.beta': torch.zeros(1, 1, 1, 4 * d),
            'decoder.0.pwconv2.weight': t.normal(d, 4 * d, std=0.02),
            'decoder.0.pwconv2.bias': torch.zeros(d),
            'pred.weight': t.normal(32 * 32 * 3, d, 1, 1, std=0.02),
            'pred.bias': torch.zeros(32 * 32 * 3)}


def training_extras(model_args):
    return {'optimizer': {'state': {}, 'param_groups': [{'lr': 1.5e-4, 'params': [0, 1]}]},
            'epoch': 799, 'scaler': {'scale': 65536.0, 'growth_factor': 2.0},
            'args': argparse.Namespace(**model_args)}


# -- the reference forward ------------------------------------------------------------------------
def me_kernel_offsets(k, dims=2):
    """Kernel offsets in MinkowskiEngine's kernel-volume order: the first axis runs fastest."""
    low = 0 if k % 2 == 0 else -(k // 2)
    offset = [low] * dims
    for _ in range(k ** dims):
        yield tuple(offset)
        for axis in range(dims):   # odometer, axis 0 first (kernel_region_iterator::operator++)
            offset[axis] += 1
            if offset[axis] < low + k:
                break
            offset[axis] = low


def me_conv(x, kernel, bias, k, stride):
    """MinkowskiConvolution (kernel (V, in, out)) / depthwise (kernel (V, C)) on a dense grid with
    every point present; out[p] = sum_o in[stride * p + o] @ kernel[index(o)] + bias."""
    if k % 2:   # odd kernels here are stride 1 and keep the size
        pad, height, width = k // 2, x.shape[2], x.shape[3]
    else:
        pad, height, width = 0, (x.shape[2] - k) // stride + 1, (x.shape[3] - k) // stride + 1
    padded = F.pad(x, (pad, pad, pad, pad))
    out = 0
    for index, (dh, dw) in enumerate(me_kernel_offsets(k)):
        rows = slice(dh + pad, dh + pad + stride * (height - 1) + 1, stride)
        cols = slice(dw + pad, dw + pad + stride * (width - 1) + 1, stride)
        patch = padded[:, :, rows, cols]
        if kernel.dim() == 3:
            out = out + torch.einsum('bihw,io->bohw', patch, kernel[index])
        else:
            out = out + patch * kernel[index][None, :, None, None]
    return out + bias.reshape(1, -1, 1, 1)


def channel_ln(x, weight, bias):
    """LayerNorm over the channels of NCHW (official channels_first / MinkowskiLayerNorm)."""
    mean = x.mean(1, keepdim=True)
    var = (x - mean).square().mean(1, keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS) * weight.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)


def linear(x, weight, bias):
    return torch.einsum('bihw,oi->bohw', x, weight) + bias.reshape(1, -1, 1, 1)


def grn(x, gamma, beta):
    """Official GRN on NCHW, one image: L2 norm over space, divided by its channel mean."""
    gx = x.square().sum((2, 3), keepdim=True).sqrt()
    nx = gx / (gx.mean(1, keepdim=True) + EPS)
    return gamma.reshape(1, -1, 1, 1) * (x * nx) + beta.reshape(1, -1, 1, 1) + x


def reference_features(sd, image, sparse):
    """The four stage outputs of the official model (sparse encoder with nothing masked, or the
    dense model), computed from the official tensors ``sd`` (float64)."""
    w = {k: v.double() for k, v in sd.items()}
    x = F.conv2d(image, w['downsample_layers.0.0.weight'], w['downsample_layers.0.0.bias'], stride=4)
    x = channel_ln(x, w['downsample_layers.0.1.weight'], w['downsample_layers.0.1.bias'])
    ln, fc = ('.ln', '.linear') if sparse else ('', '')
    features = []
    for i, depth in enumerate(DEPTHS):
        if i:
            d = f'downsample_layers.{i}.'
            x = channel_ln(x, w[f'{d}0{ln}.weight'], w[f'{d}0{ln}.bias'])
            if sparse:
                x = me_conv(x, w[d + '1.kernel'], w[d + '1.bias'], k=2, stride=2)
            else:
                x = F.conv2d(x, w[d + '1.weight'], w[d + '1.bias'], stride=2)
        for j in range(depth):
            p = f'stages.{i}.{j}.'
            if sparse:
                y = me_conv(x, w[p + 'dwconv.kernel'], w[p + 'dwconv.bias'], k=7, stride=1)
            else:
                y = F.conv2d(x, w[p + 'dwconv.weight'], w[p + 'dwconv.bias'], padding=3,
                             groups=x.shape[1])
            y = channel_ln(y, w[f'{p}norm{ln}.weight'], w[f'{p}norm{ln}.bias'])
            y = F.gelu(linear(y, w[f'{p}pwconv1{fc}.weight'], w[f'{p}pwconv1{fc}.bias']))
            y = grn(y, w[p + 'grn.gamma'], w[p + 'grn.beta'])
            x = x + linear(y, w[f'{p}pwconv2{fc}.weight'], w[f'{p}pwconv2{fc}.bias'])
        features.append(x)
    return features


# -- the checkpoints ---------------------------------------------------------------------------
def sparse_fcmae_checkpoint():
    t = Tensors(1)
    encoder = official_sparse_encoder(t)
    checkpoint = {'model': {**encoder, **fcmae_decoder(t)},
                  **training_extras(dict(model='convnextv2_atto', mask_ratio=0.6))}
    return checkpoint, {k[len('encoder.'):]: v for k, v in encoder.items()}, True


def released_pt_only(grn_shape):
    """``pt_only/convnextv2_<size>_1k_224_fcmae.pt``: the encoder alone under 'model', with the
    dense model's names (no ``encoder.`` prefix, no decoder, no head)."""
    backbone = official_dense_backbone(Tensors(2), grn_shape)
    return {'model': backbone}, backbone, False


def finetuned(with_ema):
    t = Tensors(3)
    classifier = dict(official_dense_backbone(t), **{
        'norm.weight': t.normal(DIMS[3], std=0.1, mean=1.0), 'norm.bias': t.normal(DIMS[3], std=0.1),
        'head.weight': t.normal(1000, DIMS[3], std=0.02), 'head.bias': t.normal(1000, std=0.02)})
    if not with_ema:   # the released *_ema.pt / *.pt files: just 'model'
        return {'model': classifier}, classifier, False
    raw = {k: v + t.normal(*v.shape, std=0.05) for k, v in classifier.items()}
    checkpoint = {'model': raw, 'model_ema': classifier,
                  **training_extras(dict(model='convnextv2_atto', model_ema=True))}
    return checkpoint, classifier, False   # the loader takes the EMA weights


CHECKPOINTS = {
    'official sparse FCMAE (main_pretrain.py)': sparse_fcmae_checkpoint,
    'released pt_only FCMAE, GRN (1,1,1,C)': lambda: released_pt_only((1, 1, 1, -1)),
    'released pt_only FCMAE, GRN (1,C)': lambda: released_pt_only((1, -1)),
    'official finetuned, model_ema': lambda: finetuned(True),
    'released finetuned, model only': lambda: finetuned(False),
}


@pytest.mark.parametrize('name', list(CHECKPOINTS))
def test_official_checkpoint_gives_the_reference_features(name, tmp_path):
    checkpoint, official, sparse = CHECKPOINTS[name]()
    path = tmp_path / 'official.pth'
    torch.save(checkpoint, path)
    model = ConvNeXtV2('atto', out_indices=(0, 1, 2, 3), norm_out=False)
    report = load_pretrained(model, str(path))
    assert 'freshly initialised: nothing' in report   # norm_out=False: no output norms
    dropped = {'official sparse': 'decoder, mask_token, pred, proj', 'released pt_only': 'nothing'}
    dropped = next((v for k, v in dropped.items() if name.startswith(k)), 'head, norm')
    assert f'dropped (not backbone): {dropped}' in report

    image = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        got = model.double().eval()(image)
    expected = reference_features(official, image, sparse)
    for stage, (a, b) in enumerate(zip(got, expected)):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9, msg=f'{name}: stage {stage}')


def test_me_kernel_order_is_the_first_axis_fastest():
    """The reference's reading of kernel_region_iterator, spelt out for a 2x2 and a 3x3 kernel."""
    assert list(me_kernel_offsets(2)) == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert list(me_kernel_offsets(3))[:4] == [(-1, -1), (0, -1), (1, -1), (-1, 0)]
