# Cascade Mask R-CNN, ConvNeXt V2-large, COCO, ConvNeXt V1's Cascade recipe.
_base_ = './_base_/cascade-mask-rcnn_convnextv2_fpn_4conv1fc-giou_ms-crop-3x_coco.py'

# IN-22K weights as V1's large/xlarge Cascade: the released FCMAE -> IN-22K -> IN-1K EMA weights at
# 224, downloaded once into the torch hub cache; a local file instead:
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
checkpoint_file = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/im22k/convnextv2_large_22k_224_ema.pt'
# V1's large IN-22K config (cascade_mask_rcnn_convnext_large_..._3x_coco_in22k.py): drop path 0.7,
# layer decay 0.7, lr 1e-4.
model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.7,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[192, 384, 768, 1536]))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
