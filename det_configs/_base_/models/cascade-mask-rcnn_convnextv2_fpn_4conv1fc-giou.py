# Cascade Mask R-CNN + FPN (Cai & Vasconcelos 2018) with a ConvNeXt V2 backbone: our Mask R-CNN
# model (backbone, FPN, RPN anchors, RoI extractors, mask head) with what mmdet's
# cascade_rcnn/cascade-mask-rcnn_r50_fpn base changes (three R-CNN stages at IoU 0.5 / 0.6 / 0.7
# with loss weights 1 / 0.5 / 0.25, smooth-L1 RPN loss, 2000 train proposals), and the heads of
# ConvNeXt V1's Cascade configs (facebookresearch/ConvNeXt object_detection/configs/convnext/
# cascade_mask_rcnn_convnext_*_giou_4conv1f_adamw_3x_coco_*.py): per stage 4 shared 3x3 convs +
# 1 fc with SyncBN, class-specific regression of decoded boxes, GIoU loss weight 10. Per size:
# arch, drop path, init checkpoint, neck widths. Every value against its source: docs/recipes.md.
_base_ = './mask-rcnn_convnextv2_fpn.py'

# One stage's box head; the stages differ only in the regression target stds (the R50 base's
# 0.1/0.2, then halved and thirded as each stage's proposals get tighter).
giou_4conv1fc_head = dict(
    type='Shared4Conv1FCBBoxHead',      # ConvFCBBoxHead with num_shared_convs=4, num_shared_fcs=1
    in_channels=256,
    conv_out_channels=256,
    fc_out_channels=1024,
    roi_feat_size=7,
    num_classes=80,
    norm_cfg=dict(type='SyncBN', requires_grad=True),   # BN on one process (mmengine reverts it)
    reg_class_agnostic=False,
    reg_decoded_bbox=True,              # the GIoU loss compares decoded boxes, not deltas
    loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
stage_target_stds = ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067])
stage_iou_thresholds = (0.5, 0.6, 0.7)

model = dict(
    type='CascadeRCNN',
    rpn_head=dict(loss_bbox=dict(_delete_=True, type='SmoothL1Loss', beta=1.0 / 9.0,
                                 loss_weight=1.0)),
    roi_head=dict(
        type='CascadeRoIHead',
        num_stages=3,
        stage_loss_weights=[1, 0.5, 0.25],
        bbox_head=[
            dict(giou_4conv1fc_head, bbox_coder=dict(
                type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.], target_stds=stds))
            for stds in stage_target_stds]),
    train_cfg=dict(
        rpn=dict(allowed_border=0),
        rpn_proposal=dict(max_per_img=2000),
        rcnn=[
            dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=iou, neg_iou_thr=iou,
                               min_pos_iou=iou, match_low_quality=False, ignore_iof_thr=-1),
                 sampler=dict(type='RandomSampler', num=512, pos_fraction=0.25, neg_pos_ub=-1,
                              add_gt_as_proposals=True),
                 mask_size=28,
                 pos_weight=-1,
                 debug=False)
            for iou in stage_iou_thresholds]),
    # plain NMS at test, as V1's Cascade configs and mmdet's cascade base (the soft-NMS of our
    # Mask R-CNN configs is paper A.3's Mask R-CNN recipe, which has no Cascade)
    test_cfg=dict(rcnn=dict(nms=dict(_delete_=True, type='nms', iou_threshold=0.5))))
