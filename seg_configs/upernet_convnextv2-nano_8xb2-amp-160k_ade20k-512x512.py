_base_ = ['./_base_/upernet_convnextv2.py', './_base_/ade20k_512x512.py',
           './_base_/schedule_160k_adamw.py', './_base_/default_runtime.py']
# Paper A.4 sweeps lr {1e-4, 2e-4, 3e-4}, layer decay {0.8, 0.9} and drop path {0.1 .. 0.4}
# but does not say which won per size; why these: seg_configs/_base_/schedule_160k_adamw.py.
# The released IN-1K finetuned EMA weights (A.4: FCMAE -> IN-1K), downloaded once into the torch
# hub cache; a local file instead (tools/export_backbone.py):
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
checkpoint_file = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/im1k/convnextv2_nano_1k_224_ema.pt'
model = dict(
    backbone=dict(
        arch='nano',
        drop_path_rate=0.1,  # from {0.1, 0.2, 0.3, 0.4}
        init_cfg=dict(checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[80, 160, 320, 640]),
    auxiliary_head=dict(in_channels=320))
optim_wrapper = dict(
    optimizer=dict(lr=2e-4),  # from {1e-4, 2e-4, 3e-4}
    # rate from {0.8, 0.9}; group_wise (three blocks per id): the stem gets 0.48x the lr
    # (one id per block: 0.23x). Why: seg_configs/_base_/schedule_160k_adamw.py.
    paramwise_cfg=dict(decay_rate=0.9, decay_type='group_wise'))
