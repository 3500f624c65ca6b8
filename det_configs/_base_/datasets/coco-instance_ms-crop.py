# COCO 2017 instance segmentation with the DETR-style multi-scale + crop augmentation of ConvNeXt V1's
# Cascade configs ("augmentation strategy originates from DETR / Sparse RCNN"; V1's AutoAugment with
# two policies, here mmcv's RandomChoice as mmdet 3 writes it): flip, then either a resize of the
# shorter side to one of 480, 512, ..., 800 (longer side <= 1333), or a resize to 400/500/600, a
# random 384-600 crop and then the same 480-800 resize. Test: single scale (1333, 800).
# The data paths, dataloaders and evaluator are the LSJ file's; only the training pipeline differs.
_base_ = './coco-instance_lsj.py'

multi_scales = [(1333, short) for short in range(480, 801, 32)]   # 480, 512, ..., 800
train_pipeline = [
    dict(type='SafeLoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomChoice', transforms=[
        [dict(type='RandomChoiceResize', scales=multi_scales, keep_ratio=True)],
        [dict(type='RandomChoiceResize', scales=[(1333, 400), (1333, 500), (1333, 600)],
              keep_ratio=True),
         dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
              allow_negative_crop=True),
         dict(type='RandomChoiceResize', scales=multi_scales, keep_ratio=True)],
    ]),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
