"""A CheckpointHook that survives being killed at any moment, including mid-write.

mmengine 0.10's ``CheckpointHook`` deletes the oldest checkpoint *before* writing the new one,
writes the new one in place and then overwrites ``last_checkpoint`` in place: a kill during the
save can leave a truncated checkpoint under its final name, an empty ``last_checkpoint``, or (with
``max_keep_ckpts=1``) no complete checkpoint at all. This hook keeps the same options and file names
but orders the steps so that every moment is safe:

1. write the checkpoint to a hidden temporary file in the same folder;
2. rename it to its final name (atomic);
3. replace ``last_checkpoint`` atomically;
4. only then delete checkpoints beyond ``max_keep_ckpts``.

A write that fails (``ENOSPC``: disk full) stops the run with one line and changes nothing that
``--resume`` reads. ``save_now`` also serves the preemption hook's extra checkpoint.

Resuming with ``--resume`` (``resume=True``) therefore always finds a complete checkpoint, or none
if the run was killed before its first one, and starts over.
"""
import errno
import glob
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

from engine.atomic_io import atomic_replace, atomic_write_text
from engine.collective import any_rank
from engine.stops import RunStopped

_PARTIAL = '.{}.partial'


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` with atomic checkpoint and ``last_checkpoint`` writes (local disks)."""

    def before_train(self, runner):
        super().before_train(runner)
        if is_main_process() and self._is_local():
            for stale in glob.glob(osp.join(self.out_dir, _PARTIAL.format('*'))):
                os.remove(stale)   # left by a run killed mid-write; never a complete checkpoint

    def _is_local(self):
        return isinstance(self.file_backend, LocalBackend)

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not self._is_local():
            runner.logger.warning('AtomicCheckpointHook: out_dir is not a local folder; '
                                  'falling back to the non-atomic CheckpointHook')
            return super()._save_checkpoint_with_step(runner, step, meta)

        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        self.save_now(runner, filename, meta)
        if not is_main_process():
            return
        for old in outdated:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path):
                os.remove(path)

    def save_now(self, runner, filename, meta):
        """Write ``out_dir/filename`` atomically, then point ``last_checkpoint`` at it (every rank
        calls it; the main process writes). A failed write (disk full, ...) removes the partial
        file, leaves the previous checkpoint and ``last_checkpoint`` as they were, and stops the
        run with one line."""
        partial = _PARTIAL.format(filename)
        final = osp.join(self.out_dir, filename)
        error = None
        try:
            runner.save_checkpoint(   # writes on the main process only
                self.out_dir, partial, self.file_client_args, save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
                backend_args=self.backend_args, **self.args)
            if is_main_process():
                atomic_replace(osp.join(self.out_dir, partial), final)
                atomic_write_text(final, osp.join(runner.work_dir, 'last_checkpoint'))
        except OSError as err:
            error = err
            leftover = osp.join(self.out_dir, partial)
            if osp.exists(leftover):
                os.remove(leftover)
        if any_rank(error is not None):
            reason = (error.strerror or str(error)) if error is not None else 'failed on rank 0'
            raise RunStopped(
                f'could not write checkpoint {final}: {reason}'
                f'{" (disk full)" if getattr(error, "errno", None) == errno.ENOSPC else ""}; the '
                f'previous checkpoint and last_checkpoint are unchanged: free space in '
                f'{self.out_dir} (or set --work-dir elsewhere) and continue with --resume')
