_base_ = ['./_base_/table9_in1k_small.py']

# ConvNeXt V2-Atto IN-1K finetune, paper Table 9 (A/F/P/N column for atto).
recipe = dict(
    size='atto',
    weight_decay=0.3,
    mixup=0.0,
    cutmix=0.0,
    drop_path=0.1,
    pretrained='checkpoints/convnextv2_atto_fcmae_backbone.pth',
)
train_dataloader = dict(batch_size=128)  # per GPU
