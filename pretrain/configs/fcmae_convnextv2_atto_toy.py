# Toy FCMAE run for a CPU in a few minutes: the generated image set, 96x96 crops (3x3 patches).
#   python tools/make_synthetic.py fcmae --out data/fcmae_toy
#   python tools/pretrain_fcmae.py pretrain/configs/fcmae_convnextv2_atto_toy.py
_base_ = ['./_base_/fcmae_in1k.py']

effective_batch_size = None   # keep the lr below: the paper's 1.5e-4 x 16 / 256 is far too slow
model = dict(arch='atto')
train_dataloader = dict(
    batch_size=16, num_workers=2, persistent_workers=False, pin_memory=False,
    dataset=dict(data_root='data/fcmae_toy/train', img_size=96))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(flat_decay_mult=0.0))
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=20)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=18, eta_min=1e-5, by_epoch=True, begin=2, end=20,
         convert_to_iter_based=True),
]
default_hooks = dict(logger=dict(interval=4), checkpoint=dict(interval=2, max_keep_ckpts=2))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
log_processor = dict(window_size=4)
