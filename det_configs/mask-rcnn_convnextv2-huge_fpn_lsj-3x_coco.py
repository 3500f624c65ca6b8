# Mask R-CNN, ConvNeXt V2-huge, COCO, A.3 recipe. Table 6: 2525G FLOPs at 1280x800.
_base_ = './_base_/mask-rcnn_convnextv2_fpn_lsj-3x_coco.py'

model = dict(
    backbone=dict(
        arch='huge',
        drop_path_rate=0.5,  # paper sweep {0.2, 0.3, 0.4, 0.5}
        init_cfg=dict(type='Pretrained',
                      checkpoint='checkpoints/convnextv2_huge_1k_224_backbone.pth')),
    neck=dict(in_channels=[352, 704, 1408, 2816]))
optim_wrapper = dict(paramwise_cfg=dict(
    decay_rate=0.9,  # paper sweep {0.9, 0.95}
    decay_type='group_wise'))  # three blocks share one lr id (the paper's rule for base/large/huge)
