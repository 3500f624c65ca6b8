# A.3: 3x schedule (36 epochs), total batch 32, AdamW lr 1e-4, weight decay 0.05, layer-wise lr
# decay (rate and rule per size), mixed precision on GPU.
max_epochs = 36

train_cfg = dict(type='ResumableEpochBasedTrainLoop',  # resumes mid-epoch at the next batch
                 max_epochs=max_epochs, val_interval=3)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33],
         gamma=0.1),
]

# fp16, not bf16: mmcv 2.1's RoIAlign has no bf16 kernel. On a machine without a GPU,
# tools/train.py falls back to the plain (fp32) OptimWrapper and says so.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='float16',
    loss_scale='dynamic',
    constructor='ConvNeXtV2LayerDecayOptimizerConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.95, decay_type='layer_wise'))

# The lr above is for a total batch of 32 (16 GPUs x 2 images); tools/train.py scales it
# linearly when GPUs x train_dataloader.batch_size differs.
auto_scale_lr = dict(enable=True, base_batch_size=32)
