# Toy finetune for a CPU in a few minutes: ConvNeXt V2-Atto on the generated texture folder.
#   python tools/make_synthetic.py imagenet --out data/synthetic_imagenet
#   OMP_NUM_THREADS=1 python tools/finetune_imagenet.py \
#       finetune/configs/toy/finetune_convnextv2_atto_toy.py
# The Table 9 Atto recipe, changed where a 512-image, 8-class set trained for ~300 steps needs it:
# a small batch with the lr scaled for it, 32x32 inputs, a short EMA horizon, lighter
# regularisation and no RandAugment / zooming crops (from scratch they keep an Atto at chance for
# longer than a toy run lasts). Start from FCMAE weights with --pretrained.
_base_ = ['../finetune_convnextv2_atto_600e_in1k.py']

recipe = dict(
    num_classes=8,
    img_size=32,
    crop_pct=1.0,          # the 64x64 images are resized whole to 32x32
    base_lr=4.8e-3,        # lr 3e-4 at batch 16
    batch_size=16,
    weight_decay=0.05,
    epochs=8,
    warmup_epochs=0,
    label_smoothing=0.1,
    rand_augment=None,
    drop_path=0.0,
    ema=0.95,              # 0.9999 averages over ~10k steps; the toy run has 256
    pretrained=None,
)
data_root = 'data/synthetic_imagenet'
train_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False, pin_memory=False,
                        dataset=dict(crop_scale=(1.0, 1.0)))
val_dataloader = dict(batch_size=64, num_workers=0, persistent_workers=False, pin_memory=False)
train_cfg = dict(val_interval=2)
default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=2, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
log_processor = dict(window_size=8)
