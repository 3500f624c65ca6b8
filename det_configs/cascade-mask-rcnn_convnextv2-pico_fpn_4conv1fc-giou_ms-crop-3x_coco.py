# Cascade Mask R-CNN, ConvNeXt V2-pico, COCO, ConvNeXt V1's Cascade recipe.
_base_ = './_base_/cascade-mask-rcnn_convnextv2_fpn_4conv1fc-giou_ms-crop-3x_coco.py'

# The released IN-1K finetuned EMA weights, downloaded once into the torch hub cache; a local file
# instead (tools/export_backbone.py): --cfg-options model.backbone.init_cfg.checkpoint=PATH
checkpoint_file = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/im1k/convnextv2_pico_1k_224_ema.pt'
# No V1 size this small: V1 tiny's decay 0.7 and lr 2e-4, drop path 0.3 = tiny's 0.4 less 0.1 (the
# step between T and the small sizes in our Mask R-CNN configs).
model = dict(
    backbone=dict(
        arch='pico',
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[64, 128, 256, 512]))
