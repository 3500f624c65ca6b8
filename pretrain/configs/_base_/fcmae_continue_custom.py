# Continue FCMAE from released (or your own) weights on a folder of your own unlabeled images:
# domain-adaptive pretraining before finetuning / detection / segmentation on that domain.
#   python tools/dataset_stats.py data/own_images        # mean/std/channels: lines to paste here
#   python tools/pretrain_fcmae.py pretrain/configs/fcmae_convnextv2_tiny_continue_custom.py
# Per-size files set arch and the released FCMAE encoder of that size (pt_only/*_fcmae.pt).
_base_ = ['./fcmae_in1k.py']

model = dict(
    in_channels=3,   # 1, 3, 4, ...: RGB weights are adapted to it (sum / repeat and scale, as timm)
    # the encoder only: proj, mask token, decoder and pred start fresh (the released files hold none)
    encoder_init=dict(type='Pretrained', checkpoint='set by the per-size file', prefix=None),
    # ImageNet's statistics until you paste yours (tools/dataset_stats.py); one value per channel
    data_preprocessor=dict(_delete_=True, type='ChannelDataPreprocessor',
                           mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]))

train_dataloader = dict(
    dataset=dict(_delete_=True, type='OwnImageFolder', data_root='data/own_images', img_size=224,
                 scale=(0.2, 1.0), in_channels=3))

# Schedule for continuing rather than starting (reasoning, not a paper's table: the paper only
# pretrains from scratch). The encoder already sits in a good minimum, so
#  * 100 epochs, not 800-1600: continued pretraining converges from a good start in a fraction of
#    a from-scratch schedule (the same observation as Reed et al., "Self-Supervised Pretraining
#    Improves Self-Supervised Pretraining", WACV 2022, for contrastive methods; on the toy domain of
#    tests/test_own_images_chain.py continuing beats scratch after the same steps on 8 of 9 seeds,
#    once the source pretraining has left its loss plateau);
#  * a quarter of the paper's peak lr: effective batch 1024 x 1.5e-4 / 256 = 6e-4 instead of
#    4096 x 1.5e-4 / 256 = 2.4e-3, as finetuning rates sit below pretraining ones;
#  * the encoder frozen for the first 5 epochs (FreezeEncoderHook): the fresh decoder's first
#    gradients are large and random, and would otherwise run back into the pretrained encoder;
#  * 10 warm-up epochs (the encoder joins half-way, at half the peak lr), then cosine to 0.
effective_batch_size = 1024
base_lr = 1.5e-4
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=100)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=90, eta_min=0.0, by_epoch=True, begin=10, end=100,
         convert_to_iter_based=True),
]
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=5, max_keep_ckpts=3))
# the base's long-run hooks, plus: the decoder warm-up, and every 10 epochs the reconstruction
# picture work_dir/reconstructions/epoch_N.png with a per-epoch loss curve line in the log
custom_hooks = [
    dict(type='SkippedSamplesHook', max_fraction=0.001, min_files=1),
    dict(type='NonFiniteLossHook', max_consecutive=5),
    dict(type='PreemptionHook'),
    dict(type='RandomStateHook'),
    dict(type='FreezeEncoderHook', epochs=5),
    dict(type='ReconstructionHook', interval=10, num_images=4),
]
# under DDP the frozen encoder has no gradients for 5 epochs
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
