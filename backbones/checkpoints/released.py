"""The official ConvNeXt V2 weights, as released in the README of facebookresearch/ConvNeXt-V2.

Kinds:
  ``fcmae``      FCMAE self-supervised pretraining on ImageNet-1K, encoder only (``pt_only/``)
  ``in1k``       FCMAE -> ImageNet-1K finetuned, EMA, 224 (paper Table 14; the det/seg init, A.3/A.4)
  ``in22k_224``, ``in22k_384``, ``in22k_512``
                 FCMAE -> ImageNet-22K -> ImageNet-1K finetuned, EMA, at that resolution
Top-1 is the README's ImageNet-1K validation accuracy (None for the FCMAE encoders). Each file loads
through ``init_cfg=dict(type='Pretrained', checkpoint=URL)`` as it is (head / norm dropped); timm and
transformers republished them on the Hugging Face hub (``timm_hub_id``, ``hf_hub_id``: the same
``init_cfg`` takes those ids).
"""
from typing import NamedTuple, Optional

ROOT = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/'
KINDS = ('fcmae', 'in1k', 'in22k_224', 'in22k_384', 'in22k_512')
# timm's pretrained tags of each kind (timm/convnextv2_<size>.<tag> on the Hugging Face hub)
TIMM_TAGS = {'fcmae': 'fcmae', 'in1k': 'fcmae_ft_in1k', 'in22k_224': 'fcmae_ft_in22k_in1k',
             'in22k_384': 'fcmae_ft_in22k_in1k_384', 'in22k_512': 'fcmae_ft_in22k_in1k_512'}


class Release(NamedTuple):
    size: str
    kind: str
    resolution: int
    top1: Optional[float]
    path: str          # below ROOT

    @property
    def url(self):
        return ROOT + self.path

    @property
    def timm_hub_id(self):
        """The same weights on the Hugging Face hub as timm publishes them."""
        return f'hf-hub:timm/convnextv2_{self.size}.{TIMM_TAGS[self.kind]}'

    @property
    def hf_hub_id(self):
        """The same weights as transformers publishes them (no FCMAE encoders there): None."""
        if self.kind == 'fcmae':
            return None
        data = '1k' if self.kind == 'in1k' else '22k'
        return f'hf-hub:facebook/convnextv2-{self.size}-{data}-{self.resolution}'


RELEASES = (
    Release('atto', 'fcmae', 224, None, 'pt_only/convnextv2_atto_1k_224_fcmae.pt'),
    Release('femto', 'fcmae', 224, None, 'pt_only/convnextv2_femto_1k_224_fcmae.pt'),
    Release('pico', 'fcmae', 224, None, 'pt_only/convnextv2_pico_1k_224_fcmae.pt'),
    Release('nano', 'fcmae', 224, None, 'pt_only/convnextv2_nano_1k_224_fcmae.pt'),
    Release('tiny', 'fcmae', 224, None, 'pt_only/convnextv2_tiny_1k_224_fcmae.pt'),
    Release('base', 'fcmae', 224, None, 'pt_only/convnextv2_base_1k_224_fcmae.pt'),
    Release('large', 'fcmae', 224, None, 'pt_only/convnextv2_large_1k_224_fcmae.pt'),
    Release('huge', 'fcmae', 224, None, 'pt_only/convnextv2_huge_1k_224_fcmae.pt'),

    Release('atto', 'in1k', 224, 76.7, 'im1k/convnextv2_atto_1k_224_ema.pt'),
    Release('femto', 'in1k', 224, 78.5, 'im1k/convnextv2_femto_1k_224_ema.pt'),
    Release('pico', 'in1k', 224, 80.3, 'im1k/convnextv2_pico_1k_224_ema.pt'),
    Release('nano', 'in1k', 224, 81.9, 'im1k/convnextv2_nano_1k_224_ema.pt'),
    Release('tiny', 'in1k', 224, 83.0, 'im1k/convnextv2_tiny_1k_224_ema.pt'),
    Release('base', 'in1k', 224, 84.9, 'im1k/convnextv2_base_1k_224_ema.pt'),
    Release('large', 'in1k', 224, 85.8, 'im1k/convnextv2_large_1k_224_ema.pt'),
    Release('huge', 'in1k', 224, 86.3, 'im1k/convnextv2_huge_1k_224_ema.pt'),

    # IN-22K intermediate finetuning: nano..large at 224 and 384, huge at 384 and 512 only
    Release('nano', 'in22k_224', 224, 82.1, 'im22k/convnextv2_nano_22k_224_ema.pt'),
    Release('nano', 'in22k_384', 384, 83.4, 'im22k/convnextv2_nano_22k_384_ema.pt'),
    Release('tiny', 'in22k_224', 224, 83.9, 'im22k/convnextv2_tiny_22k_224_ema.pt'),
    Release('tiny', 'in22k_384', 384, 85.1, 'im22k/convnextv2_tiny_22k_384_ema.pt'),
    Release('base', 'in22k_224', 224, 86.8, 'im22k/convnextv2_base_22k_224_ema.pt'),
    Release('base', 'in22k_384', 384, 87.7, 'im22k/convnextv2_base_22k_384_ema.pt'),
    Release('large', 'in22k_224', 224, 87.3, 'im22k/convnextv2_large_22k_224_ema.pt'),
    Release('large', 'in22k_384', 384, 88.2, 'im22k/convnextv2_large_22k_384_ema.pt'),
    Release('huge', 'in22k_384', 384, 88.7, 'im22k/convnextv2_huge_22k_384_ema.pt'),
    Release('huge', 'in22k_512', 512, 88.9, 'im22k/convnextv2_huge_22k_512_ema.pt'),
)


def release(size, kind):
    """The release of ``size`` and ``kind``; a one-line ValueError says what exists instead."""
    for item in RELEASES:
        if (item.size, item.kind) == (size, kind):
            return item
    sizes = sorted({r.size for r in RELEASES}, key=[r.size for r in RELEASES].index)
    if size not in sizes:
        raise ValueError(f'no released ConvNeXt V2-{size}; sizes: {", ".join(sizes)}')
    kinds = [r.kind for r in RELEASES if r.size == size]
    raise ValueError(f'ConvNeXt V2-{size} has no released {kind!r} weights; released for {size}: '
                     f'{", ".join(kinds)}')


def released_url(size, kind='in1k'):
    return release(size, kind).url


def release_of_url(url):
    """The release a URL points to, or None."""
    return next((r for r in RELEASES if r.url == url), None)
