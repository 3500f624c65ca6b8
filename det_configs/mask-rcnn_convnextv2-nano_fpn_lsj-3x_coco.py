# Mask R-CNN, ConvNeXt V2-nano, COCO, A.3 recipe.
_base_ = './_base_/mask-rcnn_convnextv2_fpn_lsj-3x_coco.py'

# The released IN-1K finetuned EMA weights (A.3: FCMAE -> IN-1K), downloaded once into the torch
# hub cache; a local file instead (tools/export_backbone.py):
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
checkpoint_file = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/im1k/convnextv2_nano_1k_224_ema.pt'
model = dict(
    backbone=dict(
        arch='nano',
        drop_path_rate=0.2,  # paper sweep {0.2, 0.3, 0.4, 0.5}
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[80, 160, 320, 640]))
# Layer decay: 0.95 from A.3's sweep {0.9, 0.95}, as ConvNeXt V1's Mask R-CNN tiny config
# (facebookresearch/ConvNeXt object_detection/configs/convnext/
#  mask_rcnn_convnext_tiny_patch4_window7_mstrain_480-800_adamw_3x_coco_in1k.py).
# Rule: group_wise (three blocks per id), the rule of V1's configs and of the mmdet anchor (mmdet's
# 'layer_wise' with num_layers); A.3 does not say which grouping the paper used. It gives the stem
# 0.70x the lr; one id per block would give 0.49x (0.95^14). docs/recipes.md.
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.95, decay_type='group_wise'))
