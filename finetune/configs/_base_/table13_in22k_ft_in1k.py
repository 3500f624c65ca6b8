_base_ = ['./finetune.py']

# IN-1K finetune after the IN-22K intermediate one, paper Table 13, at 384x384: the values every
# size shares; the per-size files add the columns that differ. Each starts from the last checkpoint
# of its Table 12 run, whose 21841-class head is re-initialised for 1000 classes. Evaluation at 384
# uses the whole resized image (crop_pct 1.0), as the official code does.
recipe = dict(
    img_size=384,
    crop_pct=1.0,
    base_lr=2.5e-5,
    batch_size=512,
    weight_decay=1e-8,
    warmup_epochs=0,
    label_smoothing=0.1,
    mixup=0.0,
    cutmix=0.0,
    head_init_scale=0.001,
)
