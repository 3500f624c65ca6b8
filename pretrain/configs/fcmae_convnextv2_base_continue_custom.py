_base_ = ['./_base_/fcmae_continue_custom.py']
model = dict(arch='base', encoder_init=dict(
    checkpoint='https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_base_1k_224_fcmae.pt'))
