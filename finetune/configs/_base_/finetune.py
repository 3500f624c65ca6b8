# ConvNeXt V2 end-to-end ImageNet finetune (paper Appendix A.2) on mmengine's Runner.
#
# `recipe` holds the numbers of the paper's tables; finetune/recipe.py
# derives the optimizer, schedule, model, data and EMA settings below from it, so a size config
# only states the rows of its table. Print what a config will run with:
#   python tools/finetune_imagenet.py CONFIG --print-recipe
custom_imports = dict(imports=['backbones', 'engine', 'finetune'],
                      allow_failed_imports=False)

recipe = dict(
    size='tiny',
    num_classes=1000,
    img_size=224,
    crop_pct=0.875,               # evaluation: resize to img_size / crop_pct, centre crop
    base_lr=8e-4,                 # lr = base_lr * batch_size / 256
    batch_size=1024,              # total over GPUs and gradient-accumulation steps
    weight_decay=0.05,
    betas=(0.9, 0.999),
    layer_decay=0.9,
    layer_decay_type='layer_wise',   # 'group_wise' for base / large (Appendix A.2)
    epochs=300,
    warmup_epochs=40,
    min_lr=1e-6,                  # end of the cosine (official code's default)
    rand_augment='rand-m9-mstd0.5-inc1',   # RandAugment(9, 0.5)
    label_smoothing=0.1,
    mixup=0.8,
    cutmix=1.0,
    random_erasing=0.25,          # not in the tables; the official finetune's --reprob
    drop_path=0.2,
    head_init_scale=0.001,
    ema=0.9999,                   # None: no EMA
    pretrained=None,              # converted FCMAE weights (tools/convert_fcmae.py) or a classifier
    validate=True,
)

data_root = 'data/imagenet'       # holds train/<class>/... and val/<class>/...

model = dict(type='ConvNeXtV2Classifier', data_preprocessor=dict(type='ClassifierDataPreprocessor'))

train_dataloader = dict(
    batch_size=128,               # per GPU; accumulation makes up the rest of recipe.batch_size
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderClassification', split='train'))
val_dataloader = dict(
    batch_size=128,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderClassification', split='val', classes_from='train'))
val_evaluator = dict(type='TopKAccuracy', topk=(1, 5))

train_cfg = dict(type='ResumableEpochBasedTrainLoop', val_interval=1)  # resumes mid-epoch
val_cfg = dict(type='ValLoop')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW'))
param_scheduler = []
# Long runs (README "Long runs"): unreadable files skipped, counted and limited; a NaN/inf loss
# skips its step and 5 in a row stop the run; SIGTERM -> checkpoint at the next iteration, exit 0;
# the random state travels in checkpoints so that --resume continues exactly.
custom_hooks = [
    dict(type='SkippedSamplesHook', max_fraction=0.001, min_files=1),
    dict(type='NonFiniteLossHook', max_consecutive=5),
    dict(type='PreemptionHook'),
    dict(type='RandomStateHook'),
]

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # with EMA on, checkpoints hold the EMA weights in `state_dict` (mmengine's EMAHook swaps
    # them in) and the raw weights in `ema_state_dict`; validation runs on the EMA weights.
    # Written atomically (a kill mid-write leaves the previous checkpoint to --resume from).
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=2,
                    save_best='accuracy/top1', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'))

env_cfg = dict(cudnn_benchmark=True,
               mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
