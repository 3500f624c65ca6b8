# The embedded default: Mask R-CNN ConvNeXt V2-atto on the synthetic COCO-format set of
# tools/make_synthetic.py coco, small enough to train in a few minutes on a 2-core CPU.
# It is the atto COCO config with other paths and classes plus what a CPU and a backbone trained
# from scratch need: 128 px images, a narrower FPN and heads with GroupNorm, anchors and RoI levels
# fitted to the small images, fewer sampled anchors/RoIs, a short schedule with a higher lr.
# The backbone starts from scratch (no IN-1K checkpoint exists on a fresh machine); to start from
# one, add --cfg-options model.backbone.init_cfg.type=Pretrained
# model.backbone.init_cfg.checkpoint=PATH
_base_ = './mask-rcnn_convnextv2-atto_fpn_lsj-3x_coco.py'

data_root = 'data/synthetic_coco/'
metainfo = dict(classes=('circle', 'square', 'triangle', 'ring'))
image_size = (128, 128)
norm_cfg = dict(type='GN', num_groups=16, requires_grad=True)

model = dict(
    data_preprocessor=dict(
        batch_augments=[dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)]),
    backbone=dict(drop_path_rate=0.0, init_cfg=dict(type='TruncNormal', std=0.02)),
    # 64-channel FPN and heads instead of 256 (on a CPU the heads, not atto, cost the most), with
    # GroupNorm as for detectors trained from scratch (He et al. 2019): without it the unnormalised
    # FPN outputs grow to ~100 under this lr and the box classifier learns nothing.
    neck=dict(out_channels=64, norm_cfg=norm_cfg),
    # octave-spaced anchors: the shapes' narrow size range falls between the default scale's
    # 32/64 px anchors, leaving half the objects without an anchor of IoU >= 0.7
    rpn_head=dict(in_channels=64, feat_channels=64,
                  anchor_generator=dict(scales=[2 ** 2.5, 2 ** 3, 2 ** 3.5])),
    roi_head=dict(
        # RoIs pick their FPN level by size; at 128 px instead of 1024 px every shape would land
        # on the shallowest level, so scale the level boundaries with the image (56 * 128 / 1024)
        bbox_roi_extractor=dict(out_channels=64, finest_scale=7),
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', in_channels=64, conv_out_channels=64,
                       fc_out_channels=256, norm_cfg=norm_cfg, num_classes=4),
        mask_roi_extractor=dict(out_channels=64, finest_scale=7),
        mask_head=dict(in_channels=64, conv_out_channels=64, norm_cfg=norm_cfg, num_classes=4)),
    train_cfg=dict(
        rpn=dict(sampler=dict(num=64)),
        rpn_proposal=dict(nms_pre=500, max_per_img=100),
        rcnn=dict(sampler=dict(num=64, pos_fraction=0.5))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=100), rcnn=dict(max_per_img=20)))

train_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.75, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size,
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline,
                 filter_cfg=dict(filter_empty_gt=True, min_size=8)))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

max_epochs = 8
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[6, 7],
         gamma=0.1),
]
# fp32, a plain OptimWrapper: mmdet's own tools/train.py runs this on a CPU too (the COCO configs'
# AmpOptimWrapper needs a GPU there); on a GPU, --amp turns on fp16 autocast in either train.py.
# One lr id per block, as when this toy's AP margins were measured (the COCO configs' group_wise
# rule is a choice for finetuning a pretrained backbone; this one trains from scratch).
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='ConvNeXtV2LayerDecayOptimizerConstructor',
    optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.95, decay_type='layer_wise'))
auto_scale_lr = dict(base_batch_size=4)  # the toy lr is for 4 images per step

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
log_processor = dict(window_size=10)
