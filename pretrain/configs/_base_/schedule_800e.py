# 800 epochs: 40 linear warmup epochs, then cosine decay to 0 (paper Table 8), stepped per iteration.
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=800)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=800 - 40, eta_min=0.0, by_epoch=True, begin=40, end=800,
         convert_to_iter_based=True),
]
