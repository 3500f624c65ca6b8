# Runtime of the segmentation configs (written from mmseg's default_runtime.py).
default_scope = 'mmseg'
custom_imports = dict(imports=['backbones', 'downstream.seg_data_checks', 'downstream.safe_loading'],
                      allow_failed_imports=False)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # temp file + rename, last_checkpoint updated after the rename: a kill never leaves half a file
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=16000, max_keep_ckpts=2,
                    save_best='mIoU'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
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
# multi-scale + flip test: tools/test.py --tta swaps in tta_pipeline and wraps the model in this
tta_model = dict(type='SegTTAModel')
