"""The recipe of a resolved COCO Mask R-CNN or ADE20K UperNet config, one line per hyper-parameter.

``det_recipe(cfg)`` / ``seg_recipe(cfg)`` return ``(short name, {label: value text})``: the "ours"
column of docs/recipes.md (reports/recipes/page.py merges the sizes and fills the page) and what
``tools/print_recipe.py CONFIG`` prints.
"""
import os.path as osp

from backbones.layer_decay import layer_id_rule
from backbones.variants import resolve_arch
from reports.recipes.page import number

STEM = 'backbone.downsample_layers.0.0.weight'


def det_recipe(cfg):
    model, test = cfg.model, cfg.model.test_cfg.rcnn
    rows = _backbone_and_optimizer(cfg)
    warmup, steps = cfg.param_scheduler
    rows['schedule'] = (f'{cfg.train_cfg.max_epochs} epochs; linear warmup {warmup.end} iters '
                        f'from {number(warmup.start_factor)}x; x{number(steps.gamma)} at epochs '
                        + ', '.join(str(m) for m in steps.milestones))
    rows['train augmentation'] = _det_augmentation(cfg.train_pipeline)
    rows['test scale'] = _size(_step(cfg.test_pipeline, 'Resize').scale) + ', single scale'
    nms = dict(test.nms)
    nms_type = nms.pop('type')
    rows['R-CNN test NMS'] = (f'{nms_type} ' + ', '.join(f'{k} {number(v)}' for k, v in nms.items())
                              + f'; score_thr {number(test.score_thr)}, '
                              f'{test.max_per_img} per image')
    rows['RPN proposals (train / test)'] = (f'{model.train_cfg.rpn_proposal.max_per_img} / '
                                            f'{model.test_cfg.rpn.max_per_img}')
    if model.roi_head.type == 'CascadeRoIHead':
        rows.update(_cascade_heads(model))
    return _size_letter(model.backbone.arch), rows


def _det_augmentation(pipeline):
    """LSJ (RandomResize + RandomCrop) or the DETR-style choice of multi-scale or resize-crop-resize."""
    flip = f'flip {number(_step(pipeline, "RandomFlip").prob)}'
    choice = next((step for step in pipeline if step.type == 'RandomChoice'), None)
    if choice is None:
        resize, crop = _step(pipeline, 'RandomResize'), _step(pipeline, 'RandomCrop')
        low, high = resize.ratio_range
        return (f'resize {_size(resize.scale)} x [{number(low)}, {number(high)}], '
                f'crop {_size(crop.crop_size)}, {flip}')
    policies = []
    for policy in choice.transforms:
        steps = [f'crop {_size(step.crop_size)}' if step.type == 'RandomCrop' else
                 'short side ' + _short_sides(step.scales) for step in policy]
        policies.append(' + '.join(steps))
    return f'{flip}, then ' + ' or '.join(policies)


def _short_sides(scales):
    """(1333, 480), (1333, 512), ... -> '480-800 (step 32) x max 1333'."""
    shorts = [min(scale) for scale in scales]
    longs = {max(scale) for scale in scales}
    steps = {b - a for a, b in zip(shorts, shorts[1:])}
    text = (f'{shorts[0]}-{shorts[-1]} (step {steps.pop()})' if len(steps) == 1 and len(shorts) > 3
            else '/'.join(map(str, shorts)))
    return text + f' x max {"/".join(map(str, sorted(longs)))}'


def _cascade_heads(model):
    """The rows of a Cascade R-CNN: stages and their IoU / loss weights, box head, box loss."""
    roi, heads = model.roi_head, model.roi_head.bbox_head
    ious = '/'.join(number(stage.assigner.pos_iou_thr) for stage in model.train_cfg.rcnn)
    weights = '/'.join(number(w) for w in roi.stage_loss_weights)
    head, loss = heads[0], heads[0].loss_bbox
    norm = (head.get('norm_cfg') or {}).get('type', 'no norm')
    decoded = 'decoded boxes' if head.get('reg_decoded_bbox') else 'deltas'
    return {
        'R-CNN stages (IoU / loss weight)': f'{roi.num_stages}: IoU {ious}; x{weights}',
        'box head': f'{head.type}, {norm}, {head.conv_out_channels} ch / fc {head.fc_out_channels}',
        'box loss': f'{loss.type} x{number(loss.loss_weight)} on {decoded}',
    }


def seg_recipe(cfg):
    model = cfg.model
    rows = _backbone_and_optimizer(cfg)
    warmup, decay = cfg.param_scheduler
    rows['schedule'] = (f'{cfg.train_cfg.max_iters // 1000}k iters; linear warmup {warmup.end} '
                        f'iters from {number(warmup.start_factor)}x; poly {number(decay.power)} '
                        f'to {number(decay.eta_min)}')
    resize = _step(cfg.train_pipeline, 'RandomResize')
    crop = _step(cfg.train_pipeline, 'RandomCrop')
    low, high = resize.ratio_range
    extra = [step.type for step in cfg.train_pipeline if step.type == 'PhotoMetricDistortion']
    rows['train augmentation'] = ', '.join(
        [f'resize {_size(resize.scale)} x [{number(low)}, {number(high)}]',
         f'crop {_size(crop.crop_size)} (cat_max_ratio {number(crop.cat_max_ratio)})',
         f'flip {number(_step(cfg.train_pipeline, "RandomFlip").prob)}'] + extra)
    rows['test'] = (f'{model.test_cfg.mode} {_size(model.test_cfg.crop_size)} stride '
                    f'{_size(model.test_cfg.stride)} at {_size(_step(cfg.test_pipeline, "Resize").scale)}')
    scales = cfg.tta_pipeline[1].transforms[0]
    rows['multi-scale test (--tta)'] = (', '.join(_size(step.scale) for step in scales)
                                        + ' x flip')
    head, aux = model.decode_head, model.auxiliary_head
    rows['heads'] = (f'{head.type} {head.channels} ch + {aux.type} {aux.channels} ch '
                     f'(loss x{number(aux.loss_decode.loss_weight)}), {head.norm_cfg.type}')
    name = _size_letter(model.backbone.arch)
    crop_size = crop.crop_size[0]
    return (name if crop_size == 512 else f'{name} {crop_size}'), rows


def _backbone_and_optimizer(cfg):
    """The rows det and seg share: weights, AdamW, batch, layer decay, drop path, precision."""
    backbone, wrapper = cfg.model.backbone, cfg.optim_wrapper
    optimizer, decay = wrapper.optimizer, wrapper.paramwise_cfg
    init = backbone.get('init_cfg') or {}
    checkpoint = init.get('checkpoint')
    scale = cfg.get('auto_scale_lr') or {}
    per_gpu = cfg.train_dataloader.batch_size
    batch = scale.get('base_batch_size')
    return {
        'initial weights': (osp.basename(checkpoint).replace(str(backbone.arch), '<size>')
                            if checkpoint else init.get('type', 'none')),
        'optimizer': f'{optimizer.type}, betas {tuple(optimizer.betas)}',
        'lr': number(optimizer.lr),
        'batch size': (f'{batch} ({per_gpu} per GPU x {batch // per_gpu})' if batch else
                       f'{per_gpu} per GPU'),
        'lr follows the real batch': 'yes (linear)' if scale.get('enable') else 'no',
        'weight decay': number(optimizer.weight_decay),
        'layer decay rate': number(decay.decay_rate),
        'layer decay rule': decay.decay_type,
        'stem lr (x lr)': f'{stem_lr_scale(backbone.arch, decay):.2f}',
        'drop path': number(backbone.drop_path_rate),
        'precision': precision(wrapper),
    }


def stem_lr_scale(arch, paramwise_cfg):
    """The stem's lr as a multiple of the lr, by the rule the optimizer constructor applies."""
    depths, _ = resolve_arch(arch)
    layer_id, num_layers = layer_id_rule(paramwise_cfg.decay_type, depths)
    return paramwise_cfg.decay_rate ** (num_layers - 1 - layer_id(STEM))


def precision(wrapper):
    if wrapper.type != 'AmpOptimWrapper':
        return 'fp32'
    dtype = {'float16': 'fp16', 'bfloat16': 'bf16'}.get(wrapper.get('dtype'), 'fp16')
    loss_scale = wrapper.get('loss_scale', 'dynamic')
    return f'{dtype} autocast, loss scale {number(loss_scale)}'


def _step(pipeline, type_name):
    return next(step for step in pipeline if step.type == type_name)


def _size(pair):
    return 'x'.join(str(v) for v in pair)


def _size_letter(arch):
    """The paper's size letters (A, F, P, N, T, B, L, H)."""
    return arch[0].upper() if isinstance(arch, str) else 'custom'
