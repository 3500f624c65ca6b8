"""The ADE20K data pipelines of the seg configs, built for a crop size and a test scale.

mmengine evaluates a base config's lists with the base's own sizes, so a config that changes
``crop_size``/``test_scale`` (the 640 variant, the CPU toy) calls this instead of restating them.
"""

REDUCE_ZERO_LABEL = True   # ADE20K: label 0 = "other" -> ignored
PAPER_TTA_RATIOS = (0.75, 0.875, 1.0, 1.125, 1.25)   # Appendix A.4, of the test scale, + flips


def ade20k_pipelines(crop_size, test_scale, tta_ratios=PAPER_TTA_RATIOS, num_classes=150):
    """Return (train, test, tta) pipelines; tta = ``tta_ratios`` of ``test_scale`` x flips."""
    check_seg_map = dict(type='CheckSegMap', num_classes=num_classes)
    load_labels = dict(type='LoadAnnotations', reduce_zero_label=REDUCE_ZERO_LABEL)
    train = [   # unreadable images / label maps are skipped, counted and limited (long runs)
        dict(type='SafeLoadImageFromFile'),
        dict(load_labels, type='SafeLoadSegAnnotations'),
        dict(check_seg_map, skip_mismatched=True),
        dict(type='RandomResize', scale=test_scale, ratio_range=(0.5, 2.0), keep_ratio=True),
        dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PhotoMetricDistortion'),
        dict(type='PackSegInputs'),
    ]
    test = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=test_scale, keep_ratio=True),
        # labels loaded after Resize: predictions are resized back to the original size
        load_labels,
        check_seg_map,
        dict(type='PackSegInputs'),
    ]
    tta = [
        dict(type='LoadImageFromFile'),
        dict(type='TestTimeAug', transforms=[
            [dict(type='Resize', scale=(int(test_scale[0] * r), int(test_scale[1] * r)),
                  keep_ratio=True) for r in tta_ratios],
            [dict(type='RandomFlip', prob=0.0, direction='horizontal'),
             dict(type='RandomFlip', prob=1.0, direction='horizontal')],
            [load_labels],
            [check_seg_map],
            [dict(type='PackSegInputs')],
        ]),
    ]
    return train, test, tta
