_base_ = ['./table11_in1k_large.py']

# Table 11's B/L columns, which base and large share.
# base_lr: the official code's value, not Table 11's. The table prints 6.25e-3 for B/L; the
# official TRAINING.md (facebookresearch/ConvNeXt-V2) finetunes Base with `--blr 6.25e-4`, ten
# times lower: the recipe published with the released weights. At batch 1024 the table's value
# would give AdamW an lr of 0.025 (vs 2.5e-3). TRAINING.md shows only Base; Large shares
# Table 11's B/L column, so it takes the same correction. The table's value, one option away:
#   --cfg-options recipe.base_lr=6.25e-3
recipe = dict(
    base_lr=6.25e-4,              # official TRAINING.md --blr (Base)
    paper=dict(base_lr=6.25e-3),  # Table 11 (B/L), probably misprinted
    layer_decay=0.6,
    layer_decay_type='group_wise',
    epochs=100,
    warmup_epochs=20,
)
