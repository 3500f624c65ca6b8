"""Reach a recipe's total batch on any number of GPUs: one rule for every launcher.

The recipe states a total batch (FCMAE: 4096, Table 8; finetune: Tables 9-13). At launch the world
size is known, so gradient accumulation is ``round(total / (batch_per_gpu * world_size))`` steps, at
least one. When the GPUs cannot reach the total exactly (4096 on 3 GPUs), the batch reached is used
and the lr follows it by the linear scaling rule; the report says so.
"""


def gradient_accumulation(total_batch, batch_per_gpu, world_size):
    """(accumulation steps, total batch reached, note: '' or why it differs from the recipe)."""
    per_step = batch_per_gpu * world_size
    steps = max(1, round(total_batch / per_step))
    reached = per_step * steps
    note = '' if reached == total_batch else (
        f' (the recipe asks for {total_batch}: not a multiple of {batch_per_gpu} per GPU x '
        f'{world_size} GPUs; the lr follows the batch reached)')
    return steps, reached, note


def scale_to_effective_batch(cfg, world_size):
    """FCMAE: set ``optim_wrapper.accumulative_counts`` and ``optimizer.lr``; return a report."""
    target = cfg.get('effective_batch_size')
    if target is None:
        return 'effective_batch_size is None: lr and accumulative_counts as written in the config'
    per_gpu = cfg.train_dataloader.batch_size
    steps, reached, note = gradient_accumulation(target, per_gpu, world_size)
    lr = cfg.base_lr * reached / 256
    cfg.optim_wrapper.accumulative_counts = steps
    cfg.optim_wrapper.optimizer.lr = lr
    return (f'effective batch {reached} = {per_gpu} per GPU x {world_size} GPUs x {steps} '
            f'accumulation steps{note}; lr = {cfg.base_lr:g} x {reached} / 256 = {lr:.4g}')
