"""Reach the paper's effective batch (4096) on any number of GPUs, and scale the learning rate.

A config states ``effective_batch_size`` and ``base_lr`` (per 256 images, paper Table 8: 1.5e-4).
At launch we know the world size, so gradient accumulation is set to
``effective_batch_size / (batch_size * world_size)`` and ``lr = base_lr * batch / 256`` with the
batch actually reached. ``effective_batch_size=None`` keeps the config's lr and accumulation.
"""
import os


def scale_to_effective_batch(cfg, world_size):
    """Set ``optim_wrapper.accumulative_counts`` and ``optimizer.lr`` in ``cfg``; return a report."""
    target = cfg.get('effective_batch_size')
    if target is None:
        return 'effective_batch_size is None: lr and accumulative_counts as written in the config'
    per_step = cfg.train_dataloader.batch_size * world_size
    counts = max(1, round(target / per_step))
    reached = per_step * counts
    lr = cfg.base_lr * reached / 256
    cfg.optim_wrapper.accumulative_counts = counts
    cfg.optim_wrapper.optimizer.lr = lr
    note = '' if reached == target else f' (asked for {target}: not a multiple of {per_step})'
    return (f'effective batch {reached} = {cfg.train_dataloader.batch_size} per GPU x {world_size} '
            f'GPUs x {counts} accumulation steps{note}; lr = {cfg.base_lr:g} x {reached} / 256 = '
            f'{lr:.4g}')


def world_size_from_env(launcher):
    """The number of processes of a launch, before torch.distributed is initialised."""
    if launcher == 'none':
        return 1
    for key in ('WORLD_SIZE', 'SLURM_NTASKS', 'OMPI_COMM_WORLD_SIZE'):
        if key in os.environ:
            return int(os.environ[key])
    raise RuntimeError(f'launcher {launcher!r} but no WORLD_SIZE/SLURM_NTASKS in the environment; '
                       'start with torchrun or srun')

