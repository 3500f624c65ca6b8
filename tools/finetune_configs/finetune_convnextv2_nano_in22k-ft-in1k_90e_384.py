_base_ = ['./_base_/finetune.py']

# ConvNeXt V2-Nano IN-1K finetune after the IN-22K intermediate one, paper Table 13,
# at 384x384 (paper §4, 'ImageNet-22K intermediate fine-tuning'). Starts from the last
# checkpoint of the Table 12 run; its 21841-class head is re-initialised for 1000 classes.
# Evaluation at 384 uses the whole resized image (crop_pct 1.0), as the official code does.
recipe = dict(
    size='nano',
    img_size=384,
    crop_pct=1.0,
    base_lr=2.5e-5,
    batch_size=512,
    weight_decay=1e-8,
    layer_decay=0.9,
    layer_decay_type='layer_wise',
    epochs=90,
    warmup_epochs=0,
    label_smoothing=0.1,
    mixup=0.0,
    cutmix=0.0,
    drop_path=0.1,
    head_init_scale=0.001,
    ema=0.9999,
    pretrained='work_dirs/finetune_convnextv2_nano_90e_in22k/epoch_90.pth',
)
train_dataloader = dict(batch_size=64)  # per GPU
val_dataloader = dict(batch_size=64)
