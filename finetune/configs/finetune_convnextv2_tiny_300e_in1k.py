_base_ = ['./_base_/finetune.py']

# ConvNeXt V2-Tiny IN-1K finetune, paper Table 10.
recipe = dict(
    size='tiny',
    base_lr=8e-4,
    batch_size=1024,
    weight_decay=0.05,
    layer_decay=0.9,
    layer_decay_type='layer_wise',
    epochs=300,
    warmup_epochs=40,
    label_smoothing=0.1,
    mixup=0.8,
    cutmix=1.0,
    drop_path=0.2,
    head_init_scale=0.001,
    ema=0.9999,
    pretrained='checkpoints/convnextv2_tiny_fcmae_backbone.pth',
)
train_dataloader = dict(batch_size=128)  # per GPU
