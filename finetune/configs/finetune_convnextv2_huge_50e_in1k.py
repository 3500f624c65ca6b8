_base_ = ['./_base_/table11_in1k_large.py']

# ConvNeXt V2-Huge IN-1K finetune, paper Table 11 (huge column).
# Layer decay: the paper applies group-wise decay to Base and Large only (Appendix A.2).

recipe = dict(
    size='huge',
    base_lr=1.25e-3,
    layer_decay=0.75,
    layer_decay_type='layer_wise',
    epochs=50,
    warmup_epochs=10,
    drop_path=0.3,
    pretrained='checkpoints/convnextv2_huge_fcmae_backbone.pth',
)
train_dataloader = dict(batch_size=16)  # per GPU
