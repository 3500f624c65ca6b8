"""Parameters and FLOPs of a det or seg model at a given input size, and the paper's numbers
(Tables 6 and 7) to compare them with. mmengine's analyzer counts one multiply-accumulate as one
FLOP, the convention of the paper's tables; detectors are counted as mmdet's get_flops does.
"""
import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.registry import MODELS, init_default_scope

import backbones  # noqa: F401  (registers ConvNeXtV2 before the config's model is built)

# (scope, backbone size, input WxH) -> (table, #params in M or None, GFLOPs) of the paper.
PAPER = {
    ('mmdet', 'base', (1280, 800)): ('Table 6', None, 486),
    ('mmdet', 'large', (1280, 800)): ('Table 6', None, 875),
    ('mmdet', 'huge', (1280, 800)): ('Table 6', None, 2525),
    ('mmseg', 'base', (2048, 512)): ('Table 7', 122, 1170),
    ('mmseg', 'large', (2048, 512)): ('Table 7', 235, 1573),
    ('mmseg', 'huge', (2048, 512)): ('Table 7', 707, 3272),
    ('mmseg', 'huge', (2560, 640)): ('Table 7', 707, 5113),
}


def example_data_samples(scope, height, width):
    """The meta information the 'tensor' forward of a detector or segmentor reads."""
    meta = dict(img_shape=(height, width), ori_shape=(height, width), pad_shape=(height, width),
                batch_input_shape=(height, width), scale_factor=(1.0, 1.0))
    if scope == 'mmdet':
        from mmdet.structures import DetDataSample
        sample = DetDataSample()
    elif scope == 'mmseg':
        from mmseg.structures import SegDataSample
        sample = SegDataSample()
    else:
        return None
    sample.set_metainfo(meta)
    return [sample]


def complexity(cfg, width, height, seed=0):
    """dict(params, flops, ...) of the config's model on one WIDTHxHEIGHT image."""
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    model_cfg = cfg.model.copy()
    model_cfg.backbone.init_cfg = None  # weights do not change the count; no file needed
    model = MODELS.build(model_cfg).eval()
    torch.manual_seed(seed)
    inputs = torch.rand(1, 3, height, width) * 255
    inputs = model.data_preprocessor(dict(inputs=[inputs[0]]), False)['inputs']
    samples = example_data_samples(scope, height, width)
    forward = model.forward

    def tensor_forward(batch):
        return forward(batch, samples, mode='tensor')

    model.forward = tensor_forward
    with torch.no_grad():
        info = get_model_complexity_info(model, inputs=(inputs,), show_table=False,
                                         show_arch=False)
    info['backbone_params'] = sum(p.numel() for p in model.backbone.parameters())
    return info


def dummy_forward_macs(cfg, width, height, proposals=1000, mask_rois=100):
    """dict(params, flops) of a two-stage detector counted as mmdet 2's get_flops did (the
    convention of ConvNeXt V1's README table): its ``forward_dummy`` runs backbone, neck and RPN head
    on one WIDTHxHEIGHT image, then every R-CNN stage's box head on ``proposals`` RoIs and its mask
    head on the first ``mask_rois`` (a count that does not depend on what the RPN finds). On the meta
    device, so nothing is allocated or computed: conv and linear multiply-accumulates are counted
    (torch's FlopCounterMode, halved), norms and activations are not."""
    from torch.utils.flop_counter import FlopCounterMode

    from engine.preflight import build_on_meta
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = build_on_meta(cfg.model).eval()
    roi, channels = model.roi_head, model.neck.out_channels
    box_size = _stages(roi.bbox_roi_extractor)[0].roi_layers[0].output_size
    mask_size = _stages(roi.mask_roi_extractor)[0].roi_layers[0].output_size
    with torch.device('meta'), torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.rpn_head(model.extract_feat(torch.empty(1, 3, height, width)))
        for head in _stages(roi.bbox_head):
            head(torch.empty(proposals, channels, *box_size))
        for head in _stages(roi.mask_head):
            head(torch.empty(mask_rois, channels, *mask_size))
    return dict(params=sum(p.numel() for p in model.parameters()),
                flops=counter.get_total_flops() // 2,
                backbone_params=sum(p.numel() for p in model.backbone.parameters()))


def _stages(module):
    """The per-stage modules of a Cascade RoI head (a ModuleList), or [module] of a one-stage one."""
    return list(module) if isinstance(module, torch.nn.ModuleList) else [module]
