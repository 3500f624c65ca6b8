_base_ = ['./_base_/table12_in22k.py']

# ConvNeXt V2-Tiny IN-22K intermediate finetune from FCMAE weights, paper Table 12.
# drop_path: the paper's text reads '0.(N/T)'; taken as 0.0.

recipe = dict(
    size='tiny',
    layer_decay=0.9,
    layer_decay_type='layer_wise',
    drop_path=0.0,
    pretrained='checkpoints/convnextv2_tiny_fcmae_backbone.pth',
)
train_dataloader = dict(batch_size=128)  # per GPU
