_base_ = ['./finetune.py']

# IN-22K intermediate finetune, paper Table 12: the values every size shares; the per-size files
# add the columns that differ. IN-22K has no validation split: the last checkpoint is the output.
recipe = dict(
    num_classes=21841,
    base_lr=2.5e-4,
    batch_size=4096,
    weight_decay=0.05,
    epochs=90,
    warmup_epochs=5,
    label_smoothing=0.1,
    mixup=0.8,
    cutmix=1.0,
    head_init_scale=0.001,
    ema=None,
    validate=False,
)
data_root = 'data/imagenet22k'  # train/<wnid>/...
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
