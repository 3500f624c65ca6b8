"""Run a training tool with one fault injected (tests only; production code has no fault hooks).

    FAULT=kill-in-checkpoint:2,sigterm-at-iter:5 python tests/fault_injection.py tools/train.py ARGS

Faults (comma-separated in $FAULT; iterations count from 1 as in the logs; with FAULT_RANK=R
only the process of that rank gets them):
  kill-after-iter:K      SIGKILL this process once iteration K and its hooks (checkpoint) are done
  kill-in-checkpoint:N   SIGKILL on the N-th checkpoint of this process, after the temporary file is
                         completely written and before it is renamed
  sigterm-at-iter:K      send this process SIGTERM while iteration K runs (as Slurm would)
  nan-from-iter:K        every loss term is NaN from iteration K on
  nan-at-iter:K          every loss term is NaN at iteration K only
"""
import os
import runpy
import signal
import sys

import torch


def _faults():
    faults = {}
    for item in filter(None, os.environ.get('FAULT', '').split(',')):
        name, value = item.split(':')
        faults[name] = int(value)
    return faults


def _current_iteration():
    from mmengine.logging import MessageHub
    return MessageHub.get_current_instance().get_info('iter', 0) + 1


def _poison(value):
    if isinstance(value, (list, tuple)):
        return [_poison(v) for v in value]
    return value * torch.nan


def install(faults):
    from mmengine.model import BaseModel
    from mmengine.runner import loops

    import engine.checkpoint_hook as checkpoint_hook

    if 'kill-after-iter' in faults:
        for loop in (loops.EpochBasedTrainLoop, loops.IterBasedTrainLoop):
            def run_iter(self, *args, _original=loop.run_iter, **kwargs):
                _original(self, *args, **kwargs)
                if self._iter == faults['kill-after-iter']:
                    os.kill(os.getpid(), signal.SIGKILL)
            loop.run_iter = run_iter

    if 'kill-in-checkpoint' in faults:
        calls = []
        original_replace = checkpoint_hook.atomic_replace

        def atomic_replace(src, dst):
            calls.append(dst)
            if len(calls) == faults['kill-in-checkpoint']:
                assert os.path.getsize(src) > 0
                os.kill(os.getpid(), signal.SIGKILL)
            return original_replace(src, dst)
        checkpoint_hook.atomic_replace = atomic_replace

    if {'sigterm-at-iter', 'nan-from-iter', 'nan-at-iter'} & set(faults):
        # parse_losses runs inside every training step, single-process and DDP alike
        original_parse = BaseModel.parse_losses

        def parse_losses(self, losses):
            iteration = _current_iteration()
            if iteration == faults.get('sigterm-at-iter'):
                os.kill(os.getpid(), signal.SIGTERM)
            if iteration >= faults.get('nan-from-iter', 1 << 30) or \
                    iteration == faults.get('nan-at-iter'):
                losses = {k: (_poison(v) if 'loss' in k else v) for k, v in losses.items()}
            return original_parse(self, losses)
        BaseModel.parse_losses = parse_losses


def main():
    tool, *args = sys.argv[1:]
    if os.environ.get('FAULT_RANK', os.environ.get('RANK', '0')) == os.environ.get('RANK', '0'):
        install(_faults())
    sys.argv = [tool, *args]
    runpy.run_path(tool, run_name='__main__')


if __name__ == '__main__':
    main()
