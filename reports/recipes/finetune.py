"""The recipe of a finetune config, one line per hyper-parameter (the rows of Tables 9-13 and more).

``finetune_recipe(cfg)`` takes a config after ``apply_recipe`` and returns ``(short name,
{label: value text})``: the "ours" column of docs/recipes.md and what ``tools/print_recipe.py``
prints. ``tools/finetune_imagenet.py CONFIG --print-recipe`` shows the same values for one launch.
"""
import os.path as osp

from reports.recipes.page import number

from finetune.recipe import effective_settings


def finetune_recipe(cfg):
    recipe, settings = cfg.recipe, effective_settings(cfg.recipe)
    optimizer = cfg.optim_wrapper.optimizer
    yes_no = {True: 'yes', False: 'no'}
    rows = {
        'initial weights': (osp.basename(recipe.pretrained).replace(recipe.size, '<size>')
                            if recipe.pretrained else 'none'),
        'optimizer': f'{optimizer.type}, betas {tuple(optimizer.betas)}',
        'base lr': number(recipe.base_lr),
        'table value kept in recipe.paper': ', '.join(
            f'{key} {number(value)}' for key, value in settings['paper'].items()) or '-',
        'batch size': number(recipe.batch_size),
        'lr (base lr x batch / 256)': number(optimizer.lr),
        'weight decay': number(recipe.weight_decay),
        'layer decay rate': number(recipe.layer_decay),
        'layer decay rule': recipe.layer_decay_type,
        'stem lr (x lr)': number(float(f'{settings["layer_scales"]["stem"]:.3g}')),
        'warmup epochs': number(recipe.warmup_epochs),
        'epochs': number(recipe.epochs),
        'schedule': f'cosine to {number(recipe.min_lr)}, per iteration',
        'augmentation': recipe.rand_augment,
        'label smoothing': number(recipe.label_smoothing),
        'mixup': number(recipe.mixup),
        'cutmix': number(recipe.cutmix),
        'random erasing': number(recipe.random_erasing),
        'drop path': number(recipe.drop_path),
        'head init scale': number(recipe.head_init_scale),
        'EMA': number(recipe.ema) if recipe.ema else 'none',
        'input size / eval crop': f'{recipe.img_size} / {number(recipe.crop_pct)}',
        'validation': yes_no[bool(recipe.validate)],
        'precision': 'fp32 (--amp: fp16)' if cfg.optim_wrapper.type != 'AmpOptimWrapper'
                     else f'{cfg.optim_wrapper.get("dtype", "float16")} autocast',
    }
    return recipe.size[0].upper(), rows
