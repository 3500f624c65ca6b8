_base_ = ['./_base_/finetune.py']

# ConvNeXt V2-Base IN-22K intermediate finetune from FCMAE weights, paper Table 12.
# IN-22K has no standard validation split: no evaluation, the last checkpoint is the output.

recipe = dict(
    size='base',
    num_classes=21841,
    base_lr=2.5e-4,
    batch_size=4096,
    weight_decay=0.05,
    layer_decay=0.8,
    layer_decay_type='group_wise',
    epochs=90,
    warmup_epochs=5,
    label_smoothing=0.1,
    mixup=0.8,
    cutmix=1.0,
    drop_path=0.1,
    head_init_scale=0.001,
    ema=None,
    validate=False,
    pretrained='checkpoints/convnextv2_base_fcmae_backbone.pth',
)
data_root = 'data/imagenet22k'  # train/<wnid>/...
train_dataloader = dict(batch_size=64)  # per GPU
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
