_base_ = ['./finetune.py']

# IN-1K finetune of base/large/huge, paper Table 11: the values every size shares;
# the per-size files add the columns that differ.
recipe = dict(
    batch_size=1024,
    weight_decay=0.05,
    label_smoothing=0.1,
    mixup=0.8,
    cutmix=1.0,
    head_init_scale=0.001,
    ema=0.9999,
)
