_base_ = ['./_base_/table13_in22k_ft_in1k.py']

# ConvNeXt V2-Huge IN-1K finetune after the IN-22K intermediate one, paper Table 13, at 384x384.
recipe = dict(
    size='huge',
    layer_decay=0.85,
    layer_decay_type='layer_wise',
    epochs=30,
    drop_path=0.5,
    ema=None,
    pretrained='work_dirs/finetune_convnextv2_huge_90e_in22k/epoch_90.pth',
)
train_dataloader = dict(batch_size=8)  # per GPU
val_dataloader = dict(batch_size=8)
