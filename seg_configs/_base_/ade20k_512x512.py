# ADE20K (ADEChallengeData2016 layout, 150 classes, 0 = "other" -> ignored by reduce_zero_label),
# written from mmseg's datasets/ade20k.py. CheckedADE20KDataset / CheckSegMap (downstream/seg_data_checks.py)
# fail with the file's name on a broken layout, a label map of the wrong size or out-of-range labels.
_base_ = []  # none; assigned before the import so that mmengine reads a classic config
from downstream.seg_pipelines import ade20k_pipelines  # noqa: E402

dataset_type = 'CheckedADE20KDataset'
data_root = 'data/ade/ADEChallengeData2016'
num_classes = 150
crop_size = (512, 512)
test_scale = (2048, 512)
# Paper A.4: multi-scale test at [0.75, 0.875, 1.0, 1.125, 1.25] of 512x2048, plus flips.
tta_ratios = [0.75, 0.875, 1.0, 1.125, 1.25]
train_pipeline, test_pipeline, tta_pipeline = ade20k_pipelines(
    crop_size, test_scale, tta_ratios, num_classes)
# total batch 16 = 8 GPUs x 2 images
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
