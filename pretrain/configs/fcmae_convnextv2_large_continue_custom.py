_base_ = ['./_base_/fcmae_continue_custom.py']
model = dict(arch='large', encoder_init=dict(
    checkpoint='https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_large_1k_224_fcmae.pt'))
train_dataloader = dict(batch_size=32)  # per GPU; accumulation keeps the effective batch
