_base_ = ['./_base_/table11_in1k_base_large.py']

# ConvNeXt V2-Large IN-1K finetune, paper Table 11 (large column; lr: see the base file).
recipe = dict(
    size='large',
    drop_path=0.2,
    pretrained='checkpoints/convnextv2_large_fcmae_backbone.pth',
)
train_dataloader = dict(batch_size=32)  # per GPU
