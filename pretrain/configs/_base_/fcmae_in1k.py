# FCMAE pretraining on ImageNet-1K (paper Table 8): everything but the model size and schedule.
custom_imports = dict(imports=['backbones', 'engine', 'pretrain'], allow_failed_imports=False)

# tools/pretrain_fcmae.py sets optim_wrapper.accumulative_counts = effective_batch_size / (batch_size x
# GPUs) and lr = base_lr x effective batch / 256 (effective_batch_size=None: lr as written below).
effective_batch_size = 4096
base_lr = 1.5e-4

model = dict(
    type='FCMAE',
    arch='base',
    decoder_dim=512,
    decoder_depth=1,
    mask_ratio=0.6,
    norm_pix_loss=True,
    data_preprocessor=dict(
        type='ImgDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]))

train_dataloader = dict(
    batch_size=64,   # per GPU
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='UnlabeledImageFolder', data_root='data/imagenet/train', img_size=224,
                 scale=(0.2, 1.0)))

# Precision: bf16 autocast. The official pretraining runs in float32 (facebookresearch/ConvNeXt-V2
# engine_pretrain.py calls the model without autocast; its loss scaler only scales fp32 gradients),
# and the paper's models were trained on TPUs in JAX. Train as the official code with
#   python tools/pretrain_fcmae.py CONFIG --fp32
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='bfloat16',
    accumulative_counts=1,
    optimizer=dict(type='AdamW', lr=base_lr * effective_batch_size / 256, betas=(0.9, 0.95),
                   weight_decay=0.05),
    # no weight decay on 1-D parameters (biases, LayerNorm), as the official pretraining
    paramwise_cfg=dict(flat_decay_mult=0.0))

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'))

# Long runs (README "Long runs"): unreadable files skipped, counted and limited; a NaN/inf loss
# skips its step and 5 in a row stop the run; SIGTERM -> checkpoint at the next iteration, exit 0;
# the random state travels in checkpoints so that --resume continues exactly.
custom_hooks = [
    dict(type='SkippedSamplesHook', max_fraction=0.001, min_files=1),
    dict(type='NonFiniteLossHook', max_consecutive=5),
    dict(type='PreemptionHook'),
    dict(type='RandomStateHook'),
]

env_cfg = dict(cudnn_benchmark=True, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
# a different seed per rank, so that every GPU draws different masks
randomness = dict(seed=0, diff_rank_seed=True)
visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
log_processor = dict(by_epoch=True, window_size=50)
log_level = 'INFO'
load_from = None
resume = False
