# The Cascade Mask R-CNN recipe of ConvNeXt V1 (facebookresearch/ConvNeXt object_detection/configs/
# convnext/cascade_mask_rcnn_convnext_*_patch4_window7_mstrain_480-800_giou_4conv1f_adamw_3x_coco_*.py)
# on ConvNeXt V2 for every size; per-size files set only what differs (arch, drop path, layer
# decay, lr, initial weights). The ConvNeXt V2 paper has no Cascade results: the recipe is V1's.
_base_ = [
    './models/cascade-mask-rcnn_convnextv2_fpn_4conv1fc-giou.py',
    './datasets/coco-instance_ms-crop.py',
    './schedules/adamw-layer-decay_3x.py',   # 3x: 36 epochs, x0.1 at 27 and 33, as V1's lr_config
    './default_runtime.py',                   # atomic checkpoints and the long-run hooks
]

# Total batch 16 (8 GPUs x 2 images), V1's mmdet 2 default; the lr below is for that batch and
# tools/train.py scales it linearly when GPUs x batch differ.
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=True, base_batch_size=16)

# V1's warmup (mmdet 2 schedule_1x: 500 linear iterations from 0.001x)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=36, by_epoch=True, milestones=[27, 33], gamma=0.1),
]

# AdamW 2e-4, weight decay 0.05; layer decay with V1's rule (mmdet 'layer_wise' = three blocks per
# id = our group_wise), rate per size. fp16 AMP on GPU, V1's apex O1 for T/B (tools/train.py trains
# fp32 on a machine without a GPU).
optim_wrapper = dict(
    optimizer=dict(lr=2e-4),
    paramwise_cfg=dict(decay_rate=0.7, decay_type='group_wise'))
