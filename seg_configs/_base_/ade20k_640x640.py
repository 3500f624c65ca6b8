# ADE20K at 640x640 crops / 2560x640 test scale (Table 7's 640^2 row); only the sizes differ from 512.
_base_ = ['./ade20k_512x512.py']
from downstream.seg_pipelines import ade20k_pipelines  # noqa: E402

crop_size = (640, 640)
test_scale = (2560, 640)
train_pipeline, test_pipeline, tta_pipeline = ade20k_pipelines(crop_size, test_scale)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
