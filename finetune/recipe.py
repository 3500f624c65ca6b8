"""Turn a finetune config's ``recipe`` (the paper's table, a line per row) into mmengine settings.

A finetune config states the numbers of Tables 9-13 once, in ``recipe``; ``apply_recipe`` derives
from them everything mmengine needs, so that no number is typed twice and a size config is a few
lines: the linear-scaling lr (``base_lr * batch_size / 256``), AdamW, layer decay, warmup + cosine
by epoch (per iteration), the model (drop path, head init), the data (RandAugment, centre crop),
the batch augments (erasing, mixup/cutmix, smoothing) and the EMA hook.
``effective_settings`` reports what a run will use, layer-decay scales included.

A recipe may depart from its table where the table is (probably) misprinted and the official code
is what made the released weights; ``recipe.paper`` then records the table's value, which stays
one ``--cfg-options recipe.KEY=VALUE`` away, and ``--print-recipe`` shows both.
"""
from backbones.layer_decay import layer_id_rule
from backbones.variants import ARCHS

RECIPE_KEYS = {
    'size', 'num_classes', 'img_size', 'crop_pct', 'base_lr', 'batch_size', 'weight_decay', 'betas',
    'layer_decay', 'layer_decay_type', 'epochs', 'warmup_epochs', 'min_lr', 'rand_augment',
    'label_smoothing', 'mixup', 'cutmix', 'random_erasing', 'drop_path', 'head_init_scale', 'ema',
    'pretrained', 'validate',
}
OPTIONAL_KEYS = {'paper'}   # the table's values where the recipe departs from them


def check_recipe(recipe, source='config'):
    missing = sorted(RECIPE_KEYS - set(recipe))
    unknown = sorted(set(recipe) - RECIPE_KEYS - OPTIONAL_KEYS)
    if missing or unknown:
        raise KeyError(f'{source}: recipe has missing keys {missing} / unknown keys {unknown}; '
                       'see finetune/configs/_base_/finetune.py for the full list')
    if recipe['size'] not in ARCHS:
        raise ValueError(f'{source}: recipe.size {recipe["size"]!r} is not one of '
                         f'{", ".join(ARCHS)}')
    not_recipe = sorted(set(recipe.get('paper') or {}) - RECIPE_KEYS)
    if not_recipe:
        raise KeyError(f'{source}: recipe.paper names {not_recipe}, which are not recipe keys')
    if recipe['warmup_epochs'] >= recipe['epochs']:
        raise ValueError(f'{source}: recipe.warmup_epochs ({recipe["warmup_epochs"]}) must be '
                         f'below recipe.epochs ({recipe["epochs"]})')
    if recipe['ema'] is not None and not 0 < recipe['ema'] < 1:
        raise ValueError(f'{source}: recipe.ema must be a decay in (0, 1) or None, '
                         f'got {recipe["ema"]}')


def learning_rate(recipe):
    """The paper's linear scaling rule (Appendix A.2): lr = base lr x batch size / 256."""
    return recipe['base_lr'] * recipe['batch_size'] / 256


def apply_recipe(cfg):
    """Fill ``cfg`` (an mmengine ``Config``) from ``cfg.recipe``; returns ``cfg``."""
    recipe = cfg.recipe
    check_recipe(recipe, getattr(cfg, 'filename', None) or 'config')
    lr = learning_rate(recipe)

    cfg.model.update(arch=recipe.size, num_classes=recipe.num_classes,
                     drop_path_rate=recipe.drop_path, head_init_scale=recipe.head_init_scale,
                     label_smoothing=recipe.label_smoothing, pretrained=recipe.pretrained)
    cfg.model.data_preprocessor.update(
        num_classes=recipe.num_classes, mixup=recipe.mixup, cutmix=recipe.cutmix,
        label_smoothing=recipe.label_smoothing, random_erasing=recipe.random_erasing)

    cfg.optim_wrapper.optimizer.update(type='AdamW', lr=lr, betas=tuple(recipe.betas),
                                       weight_decay=recipe.weight_decay)
    cfg.optim_wrapper.update(constructor='ConvNeXtV2LayerDecayOptimizerConstructor',
                             paramwise_cfg=dict(decay_rate=recipe.layer_decay,
                                                decay_type=recipe.layer_decay_type))
    cfg.param_scheduler = lr_schedule(recipe, lr)
    cfg.train_cfg.update(type='EpochBasedTrainLoop', max_epochs=recipe.epochs)

    data = dict(data_root=cfg.data_root, img_size=recipe.img_size, crop_pct=recipe.crop_pct,
                rand_augment=recipe.rand_augment, num_classes=recipe.num_classes)
    cfg.train_dataloader.dataset.update(data)
    if recipe.validate:
        cfg.val_dataloader.dataset.update(data)
    else:   # e.g. IN-22K, which has no standard validation split
        cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
        cfg.default_hooks.checkpoint.pop('save_best', None)

    hooks = [h for h in cfg.get('custom_hooks', []) if h.get('type') != 'EMAHook']
    if recipe.ema:
        # mmengine's EMA: averaged = (1 - momentum) * averaged + momentum * new, so the paper's
        # decay 0.9999 is momentum 1e-4; interval is set to the accumulation steps at launch.
        hooks.append(dict(type='EMAHook', ema_type='ExponentialMovingAverage',
                          momentum=1 - recipe.ema, interval=1))
    cfg.custom_hooks = hooks
    return cfg


def lr_schedule(recipe, lr):
    """Linear warmup then cosine to ``min_lr``, by epoch but updated every iteration (as the
    official code does). Each layer-decay group ends at ``min_lr`` times its own scale."""
    warmup, epochs = recipe.warmup_epochs, recipe.epochs
    schedule = []
    if warmup > 0:
        schedule.append(dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
                             end=warmup, convert_to_iter_based=True))
    schedule.append(dict(type='CosineAnnealingLR', eta_min_ratio=recipe.min_lr / lr,
                         by_epoch=True, begin=warmup, end=epochs, T_max=epochs - warmup,
                         convert_to_iter_based=True))
    return schedule


def layer_decay_scales(recipe):
    """lr scale of the stem, of every block of every stage and of the head, by the same rule
    (``backbones.layer_decay``) the optimizer constructor applies to the parameter names."""
    depths = ARCHS[recipe['size']]['depths']
    layer_id, num_layers = layer_id_rule(recipe['layer_decay_type'], depths)

    def scale(name):
        return recipe['layer_decay'] ** (num_layers - 1 - layer_id(name))

    scales = {'stem': scale('backbone.downsample_layers.0.0.weight')}
    for i, depth in enumerate(depths):
        scales[f'stage{i}'] = [scale(f'backbone.stages.{i}.{j}.dwconv.weight')
                               for j in range(depth)]
    scales['head'] = scale('head.weight')
    return scales


def effective_settings(recipe):
    """What a run of this recipe uses, as the paper's tables state it, plus the derived values."""
    scales = layer_decay_scales(recipe)
    distinct = {scales['stem'], scales['head']}.union(*[scales[f'stage{i}'] for i in range(4)])
    return dict(
        size=recipe['size'], lr=learning_rate(recipe), base_lr=recipe['base_lr'],
        batch_size=recipe['batch_size'], epochs=recipe['epochs'],
        warmup_epochs=recipe['warmup_epochs'], weight_decay=recipe['weight_decay'],
        betas=tuple(recipe['betas']), layer_decay=recipe['layer_decay'],
        layer_decay_type=recipe['layer_decay_type'], layer_ids=len(distinct),
        layer_scales=scales, drop_path=recipe['drop_path'],
        label_smoothing=recipe['label_smoothing'], mixup=recipe['mixup'], cutmix=recipe['cutmix'],
        random_erasing=recipe['random_erasing'], rand_augment=recipe['rand_augment'],
        head_init_scale=recipe['head_init_scale'], ema=recipe['ema'], img_size=recipe['img_size'],
        crop_pct=recipe['crop_pct'], min_lr=recipe['min_lr'],
        paper=dict(recipe.get('paper') or {}))


def format_settings(settings):
    scales = settings['layer_scales']
    lines = [f'ConvNeXt V2-{settings["size"]} finetune recipe:']
    for key, value in settings.items():
        if key == 'layer_scales':
            rows = [(part, v if isinstance(v, list) else [v]) for part, v in scales.items()]
            value = '(lr x scale)' + ''.join(
                f'\n    {part:6s} ' + ', '.join(f'{s:.3g}' for s in values) for part, values in rows)
        elif key == 'paper':
            if not value:
                continue
            value = '; '.join(f'{k} {v:g} in the table (this recipe: {settings[k]:g}); '
                              f'--cfg-options recipe.{k}={v:g} to use it'
                              for k, v in value.items())
        lines.append(f'  {key:16s} {value}')
    return '\n'.join(lines)
