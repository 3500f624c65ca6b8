# Mask R-CNN, ConvNeXt V2-large, COCO, A.3 recipe. Table 6: 875G FLOPs at 1280x800.
_base_ = './_base_/mask-rcnn_convnextv2_fpn_lsj-3x_coco.py'

# The released IN-1K finetuned EMA weights (A.3: FCMAE -> IN-1K), downloaded once into the torch
# hub cache; a local file instead (tools/export_backbone.py):
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
checkpoint_file = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/im1k/convnextv2_large_1k_224_ema.pt'
model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.5,  # paper sweep {0.2, 0.3, 0.4, 0.5}
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[192, 384, 768, 1536]))
# Layer decay: 0.95 from A.3's sweep {0.9, 0.95}, the mmdet anchor's value (mmdetection
# projects/ConvNeXt-V2/configs/mask-rcnn_convnext-v2-b_fpn_lsj-3x-fcmae_coco.py, 52.9 box AP for B,
# Table 6's number). Rule: group_wise (three blocks per id), the anchor's (mmdet 'layer_wise',
# num_layers 12); B/L/H share depths 3/3/27/3, so each depth gets the anchor's lr: the stem 0.51x.
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.95, decay_type='group_wise'))
