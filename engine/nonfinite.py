"""Catch a NaN/inf loss at the step where it appears, before it reaches the weights.

``NonFiniteLossHook`` (in every training config) gives the run's optimizer wrapper a guard at
``before_run``, whatever wrapper type the config chose: the object keeps its identity (the lr
schedulers hold it), only its class gains ``NonFiniteGuard`` in front.

* fp32 (``OptimWrapper``): a non-finite loss is not back-propagated and the optimizer step of its
  accumulation window is skipped, so the weights and optimizer moments stay those of the last
  finite step.
* AMP (``AmpOptimWrapper``): the loss goes to the loss scaler as usual, which skips the step on
  non-finite gradients and lowers the scale.

Either way the hook counts consecutive non-finite iterations; at ``max_consecutive`` it stops the
run with one line naming the iteration and the loss terms that were not finite. It runs before
the checkpoint hook, so no checkpoint is written at that iteration and ``--resume`` picks the last
good one. In distributed runs every rank skips when any rank's loss is non-finite.
"""
import math
import os.path as osp

import torch
from mmengine.hooks import Hook
from mmengine.optim import AmpOptimWrapper, OptimWrapper, OptimWrapperDict
from mmengine.registry import HOOKS

from .collective import any_rank
from .stops import RunStopped


class NonFiniteGuard:
    """Put in front of an ``OptimWrapper`` class: skip the step of a non-finite loss."""
    loss_was_finite = True
    _window_poisoned = False

    def update_params(self, loss, step_kwargs=None, zero_kwargs=None):
        finite = not any_rank(not bool(torch.isfinite(loss.detach()).all()))
        self.loss_was_finite = finite
        if isinstance(self, AmpOptimWrapper):   # the loss scaler skips non-finite steps itself
            return super().update_params(loss, step_kwargs, zero_kwargs)
        if finite:
            self.backward(self.scale_loss(loss))
        else:
            self._inner_count += 1   # counts as a micro-step, contributes no gradient
            self._window_poisoned = True
        if self.should_update():
            if not self._window_poisoned:
                self.step(**(step_kwargs or {}))
            self.zero_grad(**(zero_kwargs or {}))
            self._window_poisoned = False
        return None


_GUARDED_CLASSES = {}


def add_guard(optim_wrapper):
    """Give ``optim_wrapper`` (or each wrapper of an ``OptimWrapperDict``) the guard, in place."""
    if isinstance(optim_wrapper, OptimWrapperDict):
        for wrapper in optim_wrapper.values():
            add_guard(wrapper)
        return
    cls = type(optim_wrapper)
    if issubclass(cls, NonFiniteGuard):
        return
    if cls not in _GUARDED_CLASSES:
        _GUARDED_CLASSES[cls] = type(f'Guarded{cls.__name__}', (NonFiniteGuard, cls), {})
    optim_wrapper.__class__ = _GUARDED_CLASSES[cls]


def _wrappers(optim_wrapper):
    if isinstance(optim_wrapper, OptimWrapperDict):
        return list(optim_wrapper.values())
    return [optim_wrapper]


def non_finite_terms(outputs):
    """'loss_cls=nan, loss=nan' for the loss terms of ``outputs`` that are not finite."""
    terms = []
    for key, value in (outputs or {}).items():
        try:
            number = float(value.detach().float().mean() if torch.is_tensor(value) else value)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(number):
            terms.append(f'{key}={number}')
    return ', '.join(terms) or 'loss (the total passed to the optimizer)'


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Skip non-finite steps; stop after ``max_consecutive`` of them in a row, naming them."""
    priority = 'ABOVE_NORMAL'   # before CheckpointHook (VERY_LOW) writes at the same iteration

    def __init__(self, max_consecutive=5):
        if max_consecutive < 1:
            raise ValueError(f'NonFiniteLossHook: max_consecutive must be >= 1, not '
                             f'{max_consecutive}')
        self.max_consecutive = max_consecutive
        self.streak = 0

    def before_run(self, runner):
        if isinstance(runner.optim_wrapper, (OptimWrapper, OptimWrapperDict)):   # not in val/test
            add_guard(runner.optim_wrapper)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if all(getattr(w, 'loss_was_finite', True) for w in _wrappers(runner.optim_wrapper)):
            self.streak = 0
            return
        self.streak += 1
        iteration, terms = runner.iter + 1, non_finite_terms(outputs)
        runner.logger.warning(f'iteration {iteration}: non-finite loss ({terms}); optimizer step '
                              f'skipped ({self.streak} in a row, the run stops at '
                              f'{self.max_consecutive})')
        if self.streak >= self.max_consecutive:
            raise RunStopped(
                f'non-finite loss at iteration {iteration} ({terms}), {self.streak} iterations in '
                f'a row; their steps were skipped, so the last checkpoint '
                f'({_last_checkpoint(runner)}) holds good weights: lower the lr, look at the data '
                'of these iterations; then continue with --resume')


def _last_checkpoint(runner):
    pointer = osp.join(runner.work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            return f.read().strip() or 'none yet'
    return 'none yet'
