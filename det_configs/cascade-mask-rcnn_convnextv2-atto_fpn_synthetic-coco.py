# Cascade Mask R-CNN ConvNeXt V2-atto on the synthetic COCO-format set (python tools/make_synthetic.py
# coco --out data/synthetic_coco): the Mask R-CNN toy (data, 128 px images, GroupNorm FPN, anchors,
# schedule, fp32) with the R-CNN part of the Cascade COCO configs
# (_base_/models/cascade-mask-rcnn_convnextv2_fpn_4conv1fc-giou.py) at the toy's widths: three
# stages at IoU 0.5 / 0.6 / 0.7, 4conv1fc heads with SyncBN (BN in one process), GIoU loss x10 on
# decoded boxes. Random init; nothing is downloaded. Measured (seed 0, 16 images judged on themselves,
# 80 iterations, 1 thread: 1.6 CPU-s per iteration): box AP / AP50 0.015 / 0.059, mask 0.009 / 0.033,
# untrained 0.000; the suite checks that its losses fall (tests/test_upstream_tools.py).
_base_ = './mask-rcnn_convnextv2-atto_fpn_synthetic-coco.py'

toy_head = dict(
    type='Shared4Conv1FCBBoxHead', in_channels=64, conv_out_channels=64, fc_out_channels=256,
    roi_feat_size=7, num_classes=4, norm_cfg=dict(type='SyncBN', requires_grad=True),
    reg_class_agnostic=False, reg_decoded_bbox=True,
    loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
stage_target_stds = ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067])
stage_iou_thresholds = (0.5, 0.6, 0.7)

model = dict(
    type='CascadeRCNN',
    roi_head=dict(
        type='CascadeRoIHead',
        num_stages=3,
        stage_loss_weights=[1, 0.5, 0.25],
        bbox_head=[
            dict(toy_head, bbox_coder=dict(
                type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.], target_stds=stds))
            for stds in stage_target_stds]),
    train_cfg=dict(
        rcnn=[
            dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=iou, neg_iou_thr=iou,
                               min_pos_iou=iou, match_low_quality=False, ignore_iof_thr=-1),
                 sampler=dict(type='RandomSampler', num=64, pos_fraction=0.5, neg_pos_ub=-1,
                              add_gt_as_proposals=True),
                 mask_size=28, pos_weight=-1, debug=False)
            for iou in stage_iou_thresholds]),
    test_cfg=dict(rcnn=dict(nms=dict(_delete_=True, type='nms', iou_threshold=0.5))))
