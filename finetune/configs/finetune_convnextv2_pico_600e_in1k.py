_base_ = ['./_base_/table9_in1k_small.py']

# ConvNeXt V2-Pico IN-1K finetune, paper Table 9 (A/F/P/N column for pico).
recipe = dict(
    size='pico',
    weight_decay=0.3,
    mixup=0.3,
    cutmix=0.3,
    drop_path=0.0,
    pretrained='checkpoints/convnextv2_pico_fcmae_backbone.pth',
)
train_dataloader = dict(batch_size=128)  # per GPU
