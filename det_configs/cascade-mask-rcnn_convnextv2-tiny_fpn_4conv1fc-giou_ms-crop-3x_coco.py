# Cascade Mask R-CNN, ConvNeXt V2-tiny, COCO, ConvNeXt V1's Cascade recipe.
_base_ = './_base_/cascade-mask-rcnn_convnextv2_fpn_4conv1fc-giou_ms-crop-3x_coco.py'

# The released IN-1K finetuned EMA weights, downloaded once into the torch hub cache; a local file
# instead (tools/export_backbone.py): --cfg-options model.backbone.init_cfg.checkpoint=PATH
checkpoint_file = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/im1k/convnextv2_tiny_1k_224_ema.pt'
# V1's tiny IN-1K config (cascade_mask_rcnn_convnext_tiny_..._3x_coco_in1k.py): drop path 0.4,
# layer decay 0.7, lr 2e-4.
model = dict(
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[96, 192, 384, 768]))
