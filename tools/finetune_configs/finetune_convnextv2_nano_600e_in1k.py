_base_ = ['./_base_/finetune.py']

# ConvNeXt V2-Nano IN-1K finetune, paper Table 9 (A/F/P/N column for nano).
recipe = dict(
    size='nano',
    base_lr=2e-4,
    batch_size=1024,
    weight_decay=0.3,
    layer_decay=0.9,
    layer_decay_type='layer_wise',
    epochs=600,
    warmup_epochs=0,
    label_smoothing=0.2,
    mixup=0.5,
    cutmix=0.5,
    drop_path=0.1,
    head_init_scale=0.001,
    ema=0.9999,
    pretrained='checkpoints/convnextv2_nano_fcmae_backbone.pth',
)
train_dataloader = dict(batch_size=128)  # per GPU
