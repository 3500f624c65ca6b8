"""Every checkpoint layout a ConvNeXt V2 user actually has, each as a small pure function.

A layout turns its state dict into the *canonical* one: the official facebookresearch/ConvNeXt-V2
names used by ``ConvNeXtV2`` (``downsample_layers.i.j``,
``stages.i.j.<dwconv|norm|pwconv1|grn|pwconv2>``), dense tensors, GRN parameters of shape
(1, 1, 1, C). Keys that are not backbone weights (classifier head, final norm, FCMAE decoder, ...)
are passed through unchanged; the loader decides about them. Each layout is one detector + one
converter in ``LAYOUTS``; exactly one detector matches any layout's state dict. ``to_*`` functions
write the canonical state dict back out in a foreign layout (``extract.export_backbone`` and the
tests use them).
"""
import math
import re


_SPARSE_WRAPPERS = re.compile(r'\.(ln|linear)\.')


def _strip(prefix, state_dict):
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state_dict.items()}


# -- detection ----------------------------------------------------------------------------------
def is_timm(sd):
    return 'stem.0.weight' in sd and any('.blocks.' in k for k in sd)


def is_official_sparse_fcmae(sd):
    return any(k.startswith('encoder.') and k.endswith('.kernel') for k in sd)


def is_dense_fcmae(sd):
    """``encoder.*`` with dense kernels (the sparse layout keeps a dense stem: exclude it)."""
    return 'encoder.downsample_layers.0.0.weight' in sd and not is_official_sparse_fcmae(sd)


def is_canonical(sd):
    return 'downsample_layers.0.0.weight' in sd and not any('.depthwise_conv.' in k for k in sd)


def is_mmpretrain(sd):
    """mmpretrain ``ConvNeXt(use_grn=True, layer_scale_init_value=0.)``: the official downsample
    names, but ``depthwise_conv``/``pointwise_conv*`` blocks (``backbone.`` is stripped by the loader)."""
    return ('downsample_layers.0.0.weight' in sd and any('.depthwise_conv.' in k for k in sd)
            and any('.grn.' in k for k in sd))


def is_hf(sd):
    """Hugging Face transformers ConvNextV2 (Model / ForImageClassification / Backbone)."""
    sd = _strip('convnextv2.', sd)
    return 'embeddings.patch_embeddings.weight' in sd and any('.grn.' in k for k in sd)


def is_released_fcmae(sd, container):
    """The released ``pt_only/convnextv2_<size>_1k_224_fcmae.pt`` files: the encoder alone under
    ``'model'`` with the official dense names - no ``encoder.`` prefix, no decoder. An official
    finetuned checkpoint is also ``{'model': ...}`` with these names, but always has its classifier
    (``head.*``) and final norm (``norm.*``); the FCMAE encoder has neither."""
    return (container == 'model' and is_canonical(sd)
            and not any(k.startswith(('head.', 'norm.')) for k in sd))


# -- conversion to canonical --------------------------------------------------------------------
def from_timm(sd):
    out = {}
    for key, value in sd.items():
        key = key.replace('stem.', 'downsample_layers.0.')
        key = re.sub(r'^stages\.(\d+)\.downsample\.', r'downsample_layers.\1.', key)
        key = re.sub(r'^stages\.(\d+)\.blocks\.(\d+)\.', r'stages.\1.\2.', key)
        key = key.replace('.conv_dw.', '.dwconv.').replace('.mlp.fc1.', '.pwconv1.')
        key = key.replace('.mlp.fc2.', '.pwconv2.')
        if '.mlp.grn.' in key:
            key = key.replace('.mlp.grn.weight', '.grn.gamma').replace('.mlp.grn.bias', '.grn.beta')
            value = value.reshape(1, 1, 1, -1)
        elif '.pwconv' in key and value.dim() == 4:   # timm's conv_mlp (atto..nano): 1x1 convs
            value = value.flatten(1)
        key = key.replace('head.fc.', 'head.').replace('head.norm.', 'norm.')
        out[key] = value
    return out


def from_official_sparse_fcmae(sd):
    """MinkowskiEngine layout of the official FCMAE pretraining code.

    Sparse conv kernels are (k*k, in, out) (depthwise: (k*k, C)) with the kernel offset running
    column-major, i.e. flat index = w * k + h; ``.ln.``/``.linear.`` wrap the dense modules;
    biases and GRN parameters are (1, C).
    """
    out = {}
    for key, value in _strip('encoder.', sd).items():
        if key.endswith('.kernel'):
            key = key[:-len('.kernel')] + '.weight'
            k = math.isqrt(value.shape[0])
            if value.dim() == 3:   # (k*k, in, out) -> (out, in, k, k)
                value = value.permute(2, 1, 0).reshape(value.shape[2], value.shape[1], k, k)
            else:                  # depthwise (k*k, C) -> (C, 1, k, k)
                value = value.permute(1, 0).reshape(value.shape[1], 1, k, k)
            value = value.transpose(2, 3).contiguous()
        key = _SPARSE_WRAPPERS.sub('.', key)
        if '.grn.' in key:
            value = value.reshape(1, 1, 1, -1)
        elif key.endswith('.bias') and value.dim() == 2:
            value = value.reshape(-1)
        out[key] = value
    return out


def from_dense_fcmae(sd):
    """Dense FCMAE layout with the ``encoder.`` prefix (this project's FCMAE checkpoints)."""
    return from_official(_strip('encoder.', sd))


def from_official(sd):
    """Official dense names; GRN gamma/beta of shape (C,), (1, C) or (1, 1, 1, C) -> (1, 1, 1, C)."""
    return {k: v.reshape(1, 1, 1, -1) if '.grn.' in k else v for k, v in sd.items()}


def from_mmpretrain(sd):
    """mmpretrain ConvNeXt V2 (``backbone.`` is stripped by the loader). Downsample layers are ours
    already (stem conv, LN; then LN, conv); ``depthwise_conv``/``pointwise_conv{1,2}`` (Linear) ->
    ``dwconv``/``pwconv{1,2}``; GRN gamma/beta (C,) -> (1, 1, 1, C). Output norms ``norm{i}`` keep
    their names: those a file has load (an ImageClassifier's ``norm3``, applied after pooling
    there, loads as the detection backbone's ``norm3``, as mmdet's ConvNeXt V2 project does), the
    others start fresh and the loader says which. ``head.fc.*`` -> ``head.*`` (dropped)."""
    out = {}
    for key, value in sd.items():
        key = key.replace('.depthwise_conv.', '.dwconv.').replace('.pointwise_conv1.', '.pwconv1.')
        key = key.replace('.pointwise_conv2.', '.pwconv2.')
        key = re.sub(r'^head\.fc\.', 'head.', key)
        if '.grn.' in key:
            value = value.reshape(1, 1, 1, -1)
        out[key] = value
    return out


def from_hf(sd):
    """transformers ConvNextV2 (``convnextv2.`` prefix optional). Stem: patch_embeddings (conv) +
    embeddings.layernorm; ``encoder.stages.i.downsampling_layer.{0: LN, 1: conv}`` (i > 0);
    blocks ``dwconv, layernorm, pwconv1, grn.{weight|gamma, bias|beta} (1,1,1,C), pwconv2``.
    The final ``layernorm`` (after pooling) -> ``norm.``, ``classifier`` -> ``head.``: both dropped by
    the loader. ConvNextV2Backbone's ``hidden_states_norms.stage{i+1}`` -> our ``norm{i}``."""
    out = {}
    for key, value in _strip('convnextv2.', sd).items():
        key = key.replace('embeddings.patch_embeddings.', 'downsample_layers.0.0.')
        key = key.replace('embeddings.layernorm.', 'downsample_layers.0.1.')
        key = re.sub(r'^encoder\.stages\.(\d+)\.downsampling_layer\.', r'downsample_layers.\1.', key)
        key = re.sub(r'^encoder\.stages\.(\d+)\.layers\.(\d+)\.', r'stages.\1.\2.', key)
        key = key.replace('.layernorm.', '.norm.')
        key = re.sub(r'\.grn\.(weight|gamma)$', '.grn.gamma', key)
        key = re.sub(r'\.grn\.(bias|beta)$', '.grn.beta', key)
        key = re.sub(r'^hidden_states_norms\.stage(\d)\.',
                     lambda m: f'norm{int(m.group(1)) - 1}.', key)
        key = re.sub(r'^layernorm\.', 'norm.', key)
        key = re.sub(r'^classifier\.', 'head.', key)
        if '.grn.' in key:
            value = value.reshape(1, 1, 1, -1)
        out[key] = value
    return out


RELEASED_FCMAE = 'released FCMAE encoder (pt_only: official dense names, no decoder)'

# name, detector, converter: the first detector that matches wins.
LAYOUTS = [
    ('official FCMAE pretraining (sparse MinkowskiEngine)', is_official_sparse_fcmae,
     from_official_sparse_fcmae),
    ('dense FCMAE (encoder.*)', is_dense_fcmae, from_dense_fcmae),
    ('timm convnextv2_*', is_timm, from_timm),
    ('mmpretrain ConvNeXt V2', is_mmpretrain, from_mmpretrain),
    ('Hugging Face transformers ConvNextV2', is_hf, from_hf),
    ('official / ConvNeXt V2 toolkit', is_canonical, from_official),
]


def to_canonical(sd, container=None):
    """Return (layout name, canonical state dict) or raise ValueError if no layout matches.

    ``container``: the checkpoint key the state dict came from (``'model'``, ``'state_dict'``, ...,
    None for a bare state dict); it tells the released FCMAE encoder from a backbone file."""
    if is_released_fcmae(sd, container):
        return RELEASED_FCMAE, from_official(sd)
    for name, detect, convert in LAYOUTS:
        if detect(sd):
            return name, convert(sd)
    sample = ', '.join(list(sd)[:5])
    raise ValueError(f'no known ConvNeXt V2 checkpoint layout matches keys like [{sample}]')


# -- export from canonical ----------------------------------------------------------------------
def to_timm(sd, conv_mlp=False):
    """timm's names; ``conv_mlp=True`` writes the MLP as 1x1 convs as timm's atto..nano have it."""
    out = {}
    for key, value in sd.items():
        if key.startswith('norm.'):
            key = 'head.' + key
        elif key.startswith('head.'):
            key = key.replace('head.', 'head.fc.')
        key = key.replace('downsample_layers.0.', 'stem.')
        key = re.sub(r'^downsample_layers\.(\d+)\.', r'stages.\1.downsample.', key)
        key = re.sub(r'^stages\.(\d+)\.(\d+)\.', r'stages.\1.blocks.\2.', key)
        key = key.replace('.dwconv.', '.conv_dw.').replace('.pwconv1.', '.mlp.fc1.')
        key = key.replace('.pwconv2.', '.mlp.fc2.')
        if '.grn.' in key:
            key = key.replace('.grn.gamma', '.mlp.grn.weight').replace('.grn.beta', '.mlp.grn.bias')
            value = value.reshape(-1)
        elif conv_mlp and '.mlp.fc' in key and key.endswith('.weight'):
            value = value[:, :, None, None]
        out[key] = value
    return out


_SPARSE_CONV = re.compile(r'^(downsample_layers\.[123]\.1\.|stages\.\d+\.\d+\.dwconv\.)')
_SPARSE_LN = re.compile(r'^(downsample_layers\.[123]\.0\.|stages\.\d+\.\d+\.norm\.)')


def to_official_sparse_fcmae(sd):
    """Encoder weights as the official MinkowskiEngine FCMAE model stores them (the stem stays a
    dense conv + LayerNorm there too)."""
    out = {}
    for key, value in sd.items():
        head, name = key.rsplit('.', 1)
        if _SPARSE_CONV.match(key):
            if name == 'weight':   # (out, in, k, k) -> (k*k, in, out); depthwise -> (k*k, C)
                out_ch, in_ch, k, _ = value.shape
                flat = value.transpose(2, 3).reshape(out_ch, in_ch, k * k)
                value = flat[:, 0].t() if '.dwconv.' in key else flat.permute(2, 1, 0)
                name = 'kernel'
            else:
                value = value.reshape(1, -1)
        elif _SPARSE_LN.match(key):
            head += '.ln'
        elif '.pwconv' in key:
            head += '.linear'
        elif '.grn.' in key:
            value = value.reshape(1, -1)
        out[f'encoder.{head}.{name}'] = value.contiguous()
    return out


def to_dense_fcmae(sd):
    return {'encoder.' + k: v for k, v in sd.items()}


def to_mmpretrain(sd):
    """mmpretrain names (bare; an ImageClassifier adds ``backbone.``): canonical ``norm.`` (the
    classifier's pooled norm) -> ``norm3.``, ``head.`` -> ``head.fc.``, GRN (C,)."""
    out = {}
    for key, value in sd.items():
        if key.startswith('norm.'):
            key = 'norm3.' + key[len('norm.'):]
        elif key.startswith('head.'):
            key = 'head.fc.' + key[len('head.'):]
        key = key.replace('.dwconv.', '.depthwise_conv.').replace('.pwconv1.', '.pointwise_conv1.')
        key = key.replace('.pwconv2.', '.pointwise_conv2.')
        if '.grn.' in key:
            value = value.reshape(-1)
        if key in out:
            raise ValueError(f'{key} written twice (canonical norm. and norm3. both present)')
        out[key] = value
    return out


def to_hf(sd, prefix='convnextv2.'):
    """transformers ConvNextV2 names; ``norm{i}`` -> ``hidden_states_norms.stage{i+1}`` (Backbone)."""
    out = {}
    for key, value in sd.items():
        key = key.replace('downsample_layers.0.0.', 'embeddings.patch_embeddings.')
        key = key.replace('downsample_layers.0.1.', 'embeddings.layernorm.')
        key = re.sub(r'^downsample_layers\.(\d+)\.', r'encoder.stages.\1.downsampling_layer.', key)
        key = re.sub(r'^stages\.(\d+)\.(\d+)\.', r'encoder.stages.\1.layers.\2.', key)
        key = key.replace('.norm.', '.layernorm.')
        key = key.replace('.grn.gamma', '.grn.weight').replace('.grn.beta', '.grn.bias')
        key = re.sub(r'^norm(\d)\.', lambda m: f'hidden_states_norms.stage{int(m.group(1)) + 1}.', key)
        if key.startswith('head.'):
            out['classifier.' + key[len('head.'):]] = value
            continue
        key = re.sub(r'^norm\.', 'layernorm.', key)
        out[prefix + key] = value
    return out
