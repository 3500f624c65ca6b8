_base_ = ['./_base_/table13_in22k_ft_in1k.py']

# ConvNeXt V2-Large IN-1K finetune after the IN-22K intermediate one, paper Table 13, at 384x384.
recipe = dict(
    size='large',
    layer_decay=0.8,
    layer_decay_type='group_wise',
    epochs=30,
    drop_path=0.3,
    ema=0.9999,
    pretrained='work_dirs/finetune_convnextv2_large_90e_in22k/epoch_90.pth',
)
train_dataloader = dict(batch_size=16)  # per GPU
val_dataloader = dict(batch_size=16)
