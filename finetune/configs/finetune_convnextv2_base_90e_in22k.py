_base_ = ['./_base_/table12_in22k.py']

# ConvNeXt V2-Base IN-22K intermediate finetune from FCMAE weights, paper Table 12.
recipe = dict(
    size='base',
    layer_decay=0.8,
    layer_decay_type='group_wise',
    drop_path=0.1,
    pretrained='checkpoints/convnextv2_base_fcmae_backbone.pth',
)
train_dataloader = dict(batch_size=64)  # per GPU
