"""The recipe of a resolved FCMAE config, one line per hyper-parameter (Table 8's rows and more).

``fcmae_recipe(cfg)`` returns ``(short name, {label: value text})``: the "ours" column of
docs/recipes.md and what ``tools/print_recipe.py CONFIG`` prints.
"""
from reports.recipes.page import number

from pretrain.fcmae import FCMAE


def fcmae_recipe(cfg):
    model, wrapper = cfg.model, cfg.optim_wrapper
    optimizer = wrapper.optimizer
    warmup, cosine = cfg.param_scheduler
    batch = cfg.get('effective_batch_size')
    dataset = cfg.train_dataloader.dataset
    flat_decay = (wrapper.get('paramwise_cfg') or {}).get('flat_decay_mult', 1.0)
    low, high = dataset.scale
    rows = {
        'optimizer': f'{optimizer.type}, betas {tuple(optimizer.betas)}',
        'base lr': number(cfg.base_lr),
        'batch size': number(batch) if batch else 'as the GPUs give',
        'batch per GPU (accumulation makes up the rest)': number(cfg.train_dataloader.batch_size),
        'lr (base lr x batch / 256)': number(optimizer.lr),
        'weight decay': number(optimizer.weight_decay),
        'weight decay on 1-D params (norms, biases)': 'no' if flat_decay == 0 else 'yes',
        'warmup epochs': number(warmup.end),
        'schedule': f'cosine to {number(cosine.eta_min)}, per iteration',
        'epochs': number(cfg.train_cfg.max_epochs),
        'augmentation': (f'RandomResizedCrop {dataset.img_size} scale [{number(low)}, '
                         f'{number(high)}], flip'),
        'mask ratio': number(model.mask_ratio),
        'patch size (masking, loss)': str(FCMAE.patch_size),
        'decoder': f'{model.decoder_depth} ConvNeXt V2 block(s), {model.decoder_dim} ch',
        'target': 'per-patch normalised pixels' if model.norm_pix_loss else 'pixels',
        'precision': (f'{"bf16" if wrapper.get("dtype") == "bfloat16" else "fp16"} autocast'
                      if wrapper.type == 'AmpOptimWrapper' else 'fp32'),
    }
    return f'{model.arch[0].upper()} {cfg.train_cfg.max_epochs}e', rows
