_base_ = ['./_base_/table9_in1k_small.py']

# ConvNeXt V2-Femto IN-1K finetune, paper Table 9 (A/F/P/N column for femto).
recipe = dict(
    size='femto',
    weight_decay=0.05,
    mixup=0.3,
    cutmix=0.3,
    drop_path=0.0,
    pretrained='checkpoints/convnextv2_femto_fcmae_backbone.pth',
)
train_dataloader = dict(batch_size=128)  # per GPU
