_base_ = ['./finetune.py']

# IN-1K finetune of atto/femto/pico/nano, paper Table 9: the values every size shares;
# the per-size files add the columns that differ.
recipe = dict(
    base_lr=2e-4,
    batch_size=1024,
    layer_decay=0.9,
    layer_decay_type='layer_wise',
    epochs=600,
    warmup_epochs=0,
    label_smoothing=0.2,
    head_init_scale=0.001,
    ema=0.9999,
)
