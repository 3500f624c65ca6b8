_base_ = ['./_base_/table11_in1k_base_large.py']

# ConvNeXt V2-Base IN-1K finetune, paper Table 11 (base column; lr: see the base file).
recipe = dict(
    size='base',
    drop_path=0.1,
    pretrained='checkpoints/convnextv2_base_fcmae_backbone.pth',
)
train_dataloader = dict(batch_size=64)  # per GPU
