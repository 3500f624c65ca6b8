# Paper A.4: AdamW, weight decay 0.05, batch 16, 160k iterations, layer-wise lr decay. Warmup and
# the lr schedule are not in the paper: we assume ConvNeXt V1's ADE20K recipe (1500 linear warmup
# iterations, then linear (poly 1.0) decay to 0).
# Per-size lr / decay / drop path (the paper gives only the sweeps, not the winners): smaller models
# take the larger lr 2e-4 and drop path 0.1, tiny 1e-4 / 0.2, base/large/huge 1e-4 / 0.3-0.4, the
# same ordering as the paper's IN-1K finetune recipes (Tables 9-11). Decay 0.9 for all, and
# group_wise ids (three blocks per id) for all sizes. A.4 says "layer-wise decay" without the
# grouping; ConvNeXt V1's UperNet configs (facebookresearch/ConvNeXt semantic_segmentation/configs/
# convnext/upernet_convnext_tiny_512_160k_ade20k_ms.py: 0.9, stage_wise, num_layers 6) give
# tiny's stem 0.9^7 = 0.48x the lr and the blocks of stages 0/1 0.53x/0.59x; grouped ids give the
# same three values, then 0.66x..0.9x through stages 2-3 where V1 stops at 0.73x (V1 also gives
# every downsampling layer the stem's 0.48x). One id per block would give the stem 0.9^18 = 0.15x
# (0.8^18 = 0.02x at the sweep's other rate: a frozen stem).
# Per-depth table: docs/recipes.md.
# bf16 autocast on GPU (no loss scaling needed: the fixed scale 1.0 only skips non-finite steps).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='bfloat16',
    loss_scale=1.0,
    constructor='ConvNeXtV2LayerDecayOptimizerConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.9, decay_type='group_wise'))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500, end=160000),
]
# The lr values assume a total batch of 16 (8 GPUs x 2). To rescale the lr linearly to another total
# batch: --cfg-options auto_scale_lr.enable=True (tools/train.py logs the factor it applies).
auto_scale_lr = dict(enable=False, base_batch_size=16)
train_cfg = dict(type='ResumableIterBasedTrainLoop',  # --resume skips trained batches unread
                 max_iters=160000, val_interval=16000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
