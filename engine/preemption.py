"""Preemption: on SIGTERM, write a checkpoint at the next iteration boundary and exit 0.

Slurm (time limit, preemption, ``scontrol requeue``) and most schedulers send SIGTERM some time
before SIGKILL. ``PreemptionHook`` (in every training config) installs its handler when the Runner
builds it, before any DataLoader worker is forked, so the workers inherit it and keep running
instead of dying mid-batch. The handler only sets a flag; after the current iteration the hook
writes ``iter_<N>.pth`` through ``AtomicCheckpointHook`` (unless that hook just wrote this very
iteration), logs it, and exits with code 0. ``--resume`` continues from it (mid-epoch too, with the
Resumable* loops of engine/exact_resume.py). In distributed runs all ranks stop at the same
iteration once any rank was signalled.
"""
import os.path as osp
import signal
import sys
import threading

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from .checkpoint_hook import AtomicCheckpointHook
from .collective import any_rank

_signalled = []
_previous_handlers = {}


def _remember(signum, frame):
    if signum in _signalled:   # a second signal: stop waiting for the iteration to end
        restore_handlers()
        signal.raise_signal(signum)
        return
    _signalled.append(signum)


def restore_handlers():
    """Give the signals back to the handlers they had before (after training, or on a stop)."""
    for signum, handler in _previous_handlers.items():
        signal.signal(signum, handler)
    _previous_handlers.clear()
    del _signalled[:]


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Checkpoint and exit 0 at the first iteration boundary after one of ``signals``."""
    priority = 'LOWEST'   # after the checkpoint hook: it may already have written this iteration

    def __init__(self, signals=('SIGTERM',)):
        self.signals = [getattr(signal, name) for name in signals]
        if threading.current_thread() is threading.main_thread():
            for signum in self.signals:
                _previous_handlers.setdefault(signum, signal.signal(signum, _remember))

    def after_run(self, runner):
        restore_handlers()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if not any_rank(bool(_signalled)):
            return
        iteration = runner.iter + 1
        saver = _atomic_checkpoint_hook(runner)
        name = f'iter_{iteration}.pth'
        if saver is None:
            runner.logger.warning('preempted, but no AtomicCheckpointHook is configured: '
                                  'exiting without a checkpoint')
        elif saver.last_ckpt != osp.join(saver.out_dir, name):   # not just written by the hook
            saver.save_now(runner, name, dict(epoch=runner.epoch, iter=iteration))
            saver.last_ckpt = osp.join(saver.out_dir, name)
        runner.logger.warning(f'preempted by signal {_signal_names()}: checkpoint at iteration '
                              f'{iteration} written; exiting 0 (continue with --resume)')
        sys.stdout.flush()
        restore_handlers()
        sys.exit(0)


def _atomic_checkpoint_hook(runner):
    for hook in runner.hooks:
        if isinstance(hook, AtomicCheckpointHook):
            return hook
    return None


def _signal_names():
    return ', '.join(sorted({signal.Signals(s).name for s in _signalled}))
