_base_ = ['./_base_/table12_in22k.py']

# ConvNeXt V2-Large IN-22K intermediate finetune from FCMAE weights, paper Table 12.
recipe = dict(
    size='large',
    layer_decay=0.8,
    layer_decay_type='group_wise',
    drop_path=0.1,
    pretrained='checkpoints/convnextv2_large_fcmae_backbone.pth',
)
train_dataloader = dict(batch_size=32)  # per GPU
