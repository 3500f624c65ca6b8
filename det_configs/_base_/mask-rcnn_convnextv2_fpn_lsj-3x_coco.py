# The recipe of Appendix A.3 for every size; per-size files set only what differs.
_base_ = [
    './models/mask-rcnn_convnextv2_fpn.py',
    './datasets/coco-instance_lsj.py',
    './schedules/adamw-layer-decay_3x.py',
    './default_runtime.py',
]

# LSJ crops are padded to one fixed size (datasets/coco-instance_lsj.py: image_size).
model = dict(data_preprocessor=dict(
    batch_augments=[dict(type='BatchFixedSizePad', size=(1024, 1024), pad_mask=True)]))
