_base_ = ['./_base_/table9_in1k_small.py']

# ConvNeXt V2-Nano IN-1K finetune, paper Table 9 (A/F/P/N column for nano).
recipe = dict(
    size='nano',
    weight_decay=0.3,
    mixup=0.5,
    cutmix=0.5,
    drop_path=0.1,
    pretrained='checkpoints/convnextv2_nano_fcmae_backbone.pth',
)
train_dataloader = dict(batch_size=128)  # per GPU
