_base_ = ['./_base_/table12_in22k.py']

# ConvNeXt V2-Huge IN-22K intermediate finetune from FCMAE weights, paper Table 12.
recipe = dict(
    size='huge',
    layer_decay=0.8,
    layer_decay_type='layer_wise',
    drop_path=0.3,
    pretrained='checkpoints/convnextv2_huge_fcmae_backbone.pth',
)
train_dataloader = dict(batch_size=16)  # per GPU
