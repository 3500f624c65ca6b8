"""Resume a killed run exactly where it stopped, also in the middle of an epoch.

mmengine 0.10 restores the iteration, optimizer, lr schedulers, AMP scaler and sampler seed, but:

* ``EpochBasedTrainLoop`` restarts the interrupted epoch from its first batch (a checkpoint written
  mid-epoch, e.g. at preemption, replays data and overruns the schedule);
* ``IterBasedTrainLoop`` skips the trained batches by loading every one of them (hours at
  iteration 100k);
* the random state (augmentations in the main process, the detector's RPN/RoI sampling, dropout)
  starts from the seed again.

The two loops here skip the trained batches at the index level (the batch sampler is replayed,
no image is read) and keep ``batch_idx`` counting from where it was; ``RandomStateHook`` stores the
Python, NumPy and torch (CPU and CUDA) random states in every checkpoint and restores them when
training resumes. The loops give the DataLoader its own generator, so creating a DataLoader
iterator never draws from the global torch random state. Random augmentation inside DataLoader
workers is reseeded per epoch by mmengine and is not replayed after a mid-epoch resume; everything
else is. In distributed runs the random state saved is that of rank 0 (see ``RandomStateHook``).
"""
import itertools
import random

import numpy as np
import torch
from mmengine.dataset import InfiniteSampler
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS, LOOPS
from mmengine.runner.loops import (EpochBasedTrainLoop, IterBasedTrainLoop,
                                   _InfiniteDataloaderIterator)
from torch.utils.data import DataLoader


class _SkipFirstBatches:
    """The batches of ``batch_sampler`` after the first ``skip`` (indices only, no data read)."""

    def __init__(self, batch_sampler, skip):
        self.batch_sampler, self.skip = batch_sampler, skip

    def __iter__(self):
        return itertools.islice(iter(self.batch_sampler), self.skip, None)

    def __len__(self):
        return max(0, len(self.batch_sampler) - self.skip)


def loader_after(dataloader, skip):
    """A DataLoader like ``dataloader`` (dataset, workers, collate) starting at batch ``skip``."""
    return DataLoader(
        dataloader.dataset, batch_sampler=_SkipFirstBatches(dataloader.batch_sampler, skip),
        num_workers=dataloader.num_workers, collate_fn=dataloader.collate_fn,
        pin_memory=dataloader.pin_memory, timeout=dataloader.timeout,
        worker_init_fn=dataloader.worker_init_fn,
        multiprocessing_context=dataloader.multiprocessing_context,
        generator=_own_generator(),
        prefetch_factor=dataloader.prefetch_factor if dataloader.num_workers else None,
        persistent_workers=False)


def _own_generator():
    return torch.Generator().manual_seed(0)


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that resumes a mid-epoch checkpoint at the next batch."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dataloader.generator = _own_generator()

    def run_epoch(self):
        done = self._iter - self._epoch * len(self.dataloader)
        if done <= 0:
            return super().run_epoch()
        print_log(f'resuming epoch {self._epoch + 1} at batch {done + 1} of {len(self.dataloader)}'
                  ' (the trained batches are skipped without being read)', logger='current')
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        for idx, data_batch in enumerate(loader_after(self.dataloader, done), start=done):
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
        return None


@LOOPS.register_module()
class ResumableIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` that skips the trained batches without loading them on resume
    (with an ``InfiniteSampler``; other samplers resume as in mmengine)."""

    def run(self):
        sampler = getattr(self.dataloader.batch_sampler, 'sampler', None)
        if self._iter > 0 and isinstance(sampler, InfiniteSampler):
            print_log(f'resuming at iteration {self._iter + 1}: the {self._iter} trained batches '
                      'are skipped without being read', logger='current')
            self.dataloader_iterator = _InfiniteDataloaderIterator(
                loader_after(self.dataloader, self._iter))
            return self._run_without_replay()
        return super().run()

    def _run_without_replay(self):
        """mmengine's ``run`` without its loop that loads the trained batches again."""
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            data_batch = next(self.dataloader_iterator)
            self.run_iter(data_batch)
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0 or self._iter == self._max_iters)):
                self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model


def random_states():
    states = dict(python=random.getstate(), numpy=np.random.get_state(legacy=True),
                  torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states):
    random.setstate(_as_python_state(states['python']))
    np.random.set_state(states['numpy'])
    torch.set_rng_state(states['torch'].cpu())
    if 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in states['cuda']])


def _as_python_state(state):
    version, internal, gauss = state   # tuples may come back as lists from some loaders
    return version, tuple(internal), gauss


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save the random states in each checkpoint; restore them when training resumes."""
    priority = 'VERY_HIGH'

    def __init__(self):
        self._pending = None

    def before_save_checkpoint(self, runner, checkpoint):
        checkpoint['random_states'] = random_states()

    def after_load_checkpoint(self, runner, checkpoint):
        if getattr(runner, '_resume', False) and 'random_states' in checkpoint:
            self._pending = checkpoint['random_states']

    def before_train(self, runner):
        # after Runner.resume, which may reseed (mmengine calls set_randomness there). The states
        # saved are rank 0's: other ranks take them only when all ranks share one seed (mmengine's
        # default); with randomness.diff_rank_seed they keep their own freshly seeded streams.
        shared_seed = not runner._randomness_cfg.get('diff_rank_seed', False)
        if self._pending is not None and (get_rank() == 0 or shared_seed):
            set_random_states(self._pending)
        self._pending = None
