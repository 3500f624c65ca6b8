default_scope = 'mmdet'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # temp file + rename, last_checkpoint updated after the rename: a kill never leaves half a file
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))  # tools/train.py switches to gloo on machines without a GPU

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

# Long runs (README "Long runs"): unreadable files skipped, counted and limited; a NaN/inf loss
# skips its step and 5 in a row stop the run; SIGTERM -> checkpoint at the next iteration, exit 0;
# the random state travels in checkpoints so that --resume continues exactly.
custom_hooks = [
    dict(type='SkippedSamplesHook', max_fraction=0.001, min_files=1),
    dict(type='NonFiniteLossHook', max_consecutive=5),
    dict(type='PreemptionHook'),
    dict(type='RandomStateHook'),
]

log_level = 'INFO'
load_from = None
resume = False
