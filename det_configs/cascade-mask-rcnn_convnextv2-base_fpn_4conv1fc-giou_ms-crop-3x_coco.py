# Cascade Mask R-CNN, ConvNeXt V2-base, COCO, ConvNeXt V1's Cascade recipe.
_base_ = './_base_/cascade-mask-rcnn_convnextv2_fpn_4conv1fc-giou_ms-crop-3x_coco.py'

# The released IN-1K finetuned EMA weights, downloaded once into the torch hub cache; a local file
# instead (tools/export_backbone.py): --cfg-options model.backbone.init_cfg.checkpoint=PATH
checkpoint_file = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/im1k/convnextv2_base_1k_224_ema.pt'
# V1's base IN-1K config (cascade_mask_rcnn_convnext_base_..._3x_coco_in1k.py): drop path 0.7,
# layer decay 0.8, lr 2e-4.
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.7,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.8))
