# Mask R-CNN, ConvNeXt V2-nano, COCO, A.3 recipe.
_base_ = './_base_/mask-rcnn_convnextv2_fpn_lsj-3x_coco.py'

model = dict(
    backbone=dict(
        arch='nano',
        drop_path_rate=0.2,  # paper sweep {0.2, 0.3, 0.4, 0.5}
        init_cfg=dict(type='Pretrained',
                      checkpoint='checkpoints/convnextv2_nano_1k_224_backbone.pth')),
    neck=dict(in_channels=[80, 160, 320, 640]))
optim_wrapper = dict(paramwise_cfg=dict(
    decay_rate=0.95,  # paper sweep {0.9, 0.95}
    decay_type='layer_wise'))  # one lr id per block (the paper's rule for small sizes)
