"""Skip unreadable training samples, count them across processes, and stop when there are too many.

A dataset or transform that meets a broken file calls ``report_skipped(path, reason)`` and draws
another sample. It may run in a DataLoader worker process, so the report is one appended line in
a small file per process (``<work_dir>/skipped_samples/<host>-<pid>.tsv``): no queue or lock to
share with the main process, and it works across nodes on a shared work dir. The directory comes
from the environment (``CNV2_SKIPPED_SAMPLES_DIR``), set before the workers start by the launcher
(``engine.launch.load_config``) or, at the latest, by the hook's ``before_run``. A fresh start
(no ``--resume``) empties the folder, and so does the end of a complete run.

``SkippedSamplesHook`` (in every training config) reads the files on the main process: it logs
each new broken file once with its path, names the files skipped at the end of each epoch (every
``len(dataloader)`` iterations for iteration-based runs), writes the list to
``<log_dir>/skipped_files.txt``, and stops the run when more distinct files were skipped than
``max(min_files, max_fraction x len(dataset))``. The list travels in checkpoints, so a resumed run
keeps its count.
"""
import os
import os.path as osp
import random
import socket

from mmengine.dist import broadcast_object_list, get_dist_info, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from .atomic_io import atomic_write_text
from .image_files import UnreadableSample
from .messages import short_list
from .stops import RunStopped

DIR_VARIABLE = 'CNV2_SKIPPED_SAMPLES_DIR'
_reported_here = set()   # paths this process has already reported or warned about


def records_dir_for(work_dir):
    return osp.join(osp.abspath(work_dir), 'skipped_samples')


def set_records_dir(work_dir):
    """Point this process and the workers it starts later at ``work_dir``'s record folder."""
    os.environ[DIR_VARIABLE] = records_dir_for(work_dir)
    return os.environ[DIR_VARIABLE]


def clear_records(work_dir):
    """Forget the reports of an earlier run in ``work_dir`` (a fresh start, not a --resume). Called
    by the launchers before the Runner exists, so before any process of this run reports."""
    _remove_records(records_dir_for(work_dir))


def _remove_records(directory):
    if osp.isdir(directory):
        for name in os.listdir(directory):
            try:
                os.remove(osp.join(directory, name))
            except FileNotFoundError:   # another rank removed it first
                pass


def report_skipped(path, reason):
    """Record that the sample at ``path`` was skipped because of ``reason`` (any process)."""
    path, reason = str(path), ' '.join(str(reason).split())
    directory = os.environ.get(DIR_VARIABLE)
    if not directory:   # outside a run (a notebook, a test): say it once, then skip silently
        if path not in _reported_here:
            print_log(f'skipped unreadable sample {path}: {reason}', logger='current',
                      level=30)
        _reported_here.add(path)
        return
    os.makedirs(directory, exist_ok=True)
    record = osp.join(directory, f'{socket.gethostname()}-{os.getpid()}.tsv')
    with open(record, 'a', encoding='utf-8') as f:
        f.write(f'{path}\t{reason}\n')


def read_records(directory, seen=None):
    """The (path, reason) reports under ``directory`` not read before. ``seen`` (record file ->
    lines already read) is updated; without it, every report so far."""
    seen = {} if seen is None else seen
    found = []
    if not osp.isdir(directory):
        return found
    for name in sorted(os.listdir(directory)):
        if not name.endswith('.tsv'):
            continue
        with open(osp.join(directory, name), encoding='utf-8') as f:
            lines = [line for line in f if line.endswith('\n')]   # a line being written waits
        for line in lines[seen.get(name, 0):]:
            path, _, reason = line.rstrip('\n').partition('\t')
            found.append((path, reason))
        seen[name] = len(lines)
    return found


@HOOKS.register_module()
class SkippedSamplesHook(Hook):
    """Log, count and limit the unreadable samples a training run skipped.

    Args:
        max_fraction: the run stops when more than this share of the training set was skipped...
        min_files: ...or more than this many files, whichever is larger (0.1%, at least 1).
        interval: check every this many iterations (and at every epoch end).
    """
    priority = 'ABOVE_NORMAL'

    def __init__(self, max_fraction=0.001, min_files=1, interval=10):
        self.max_fraction, self.min_files, self.interval = max_fraction, min_files, interval
        self.skipped = {}          # path -> reason, every distinct file skipped in this run
        self.this_epoch = {}       # path -> times, skipped since the last epoch summary
        self._lines_read = {}      # record file -> lines read so far
        self._directory = None

    # -- run ----------------------------------------------------------------------------------
    def before_run(self, runner):
        self._directory = set_records_dir(runner.work_dir)   # as the launcher set it

    def after_run(self, runner):
        self._collect(runner)
        self._write_list(runner)
        if is_main_process() and self._directory:
            _remove_records(self._directory)   # the run is complete and its list written

    def before_save_checkpoint(self, runner, checkpoint):
        checkpoint['skipped_samples'] = dict(self.skipped)

    def after_load_checkpoint(self, runner, checkpoint):
        self.skipped.update(checkpoint.get('skipped_samples') or {})

    # -- iterations and epochs ----------------------------------------------------------------
    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.every_n_train_iters(runner, self.interval):
            self._check(runner)
        if self._iteration_based(runner) and (runner.iter + 1) % self._epoch_length(runner) == 0:
            self._epoch_summary(runner, f'pass over the data ending at iteration {runner.iter + 1}')

    def after_train_epoch(self, runner):
        if not self._iteration_based(runner):
            self._epoch_summary(runner, f'epoch {runner.epoch + 1}')

    # -- internals ----------------------------------------------------------------------------
    @staticmethod
    def _iteration_based(runner):
        return runner.train_loop.__class__.__name__.endswith('IterBasedTrainLoop')

    @staticmethod
    def _epoch_length(runner):
        return max(1, len(runner.train_dataloader))

    def _dataset_size(self, runner):
        return len(runner.train_dataloader.dataset)

    def limit(self, dataset_size):
        return max(self.min_files, int(self.max_fraction * dataset_size))

    def _collect(self, runner):
        """Read new records (main process); log each file the first time it is seen."""
        if not is_main_process() or self._directory is None:
            return
        for path, reason in read_records(self._directory, self._lines_read):
            self.this_epoch[path] = self.this_epoch.get(path, 0) + 1
            if path not in self.skipped:
                self.skipped[path] = reason
                runner.logger.warning(f'skipped unreadable sample {path}: {reason} '
                                      f'({len(self.skipped)} file(s) skipped so far)')

    def _check(self, runner):
        self._collect(runner)
        if get_dist_info()[1] > 1:   # every rank takes rank 0's list, and so the same decision
            shared = [self.skipped]
            broadcast_object_list(shared, src=0)
            self.skipped = shared[0]
        size = self._dataset_size(runner)
        if len(self.skipped) > self.limit(size):
            self._write_list(runner)
            raise RunStopped(
                f'{len(self.skipped)} unreadable training files skipped, more than the limit of '
                f'{self.limit(size)} ({self.max_fraction:.2%} of {size}, at least '
                f'{self.min_files}): '
                f'{short_list(sorted(self.skipped), 3)}; list in '
                f'{osp.join(runner.log_dir, "skipped_files.txt")}. Fix or remove them '
                '(python tools/check_dataset.py CONFIG finds them all), or raise '
                'SkippedSamplesHook max_fraction/min_files in custom_hooks')

    def _epoch_summary(self, runner, what):
        self._check(runner)
        if not is_main_process():
            return
        if self.this_epoch:
            names = ', '.join(f'{path} (x{times})' if times > 1 else path
                              for path, times in sorted(self.this_epoch.items()))
            size = self._dataset_size(runner)
            runner.logger.warning(f'{what}: skipped {len(self.this_epoch)} unreadable file(s): '
                                  f'{names}; {len(self.skipped)} of {size} files skipped in '
                                  f'this run (limit {self.limit(size)})')
        self.this_epoch = {}
        self._write_list(runner)

    def _write_list(self, runner):
        if is_main_process() and self.skipped:
            lines = ''.join(f'{p}\t{r}\n' for p, r in sorted(self.skipped.items()))
            atomic_write_text(lines, osp.join(runner.log_dir, 'skipped_files.txt'))


def first_readable(load, index, size, max_tries=32):
    """``load(index)``; when it raises ``UnreadableSample``, report the file and load another index
    (drawn from a generator seeded by ``index``: reproducible, and the global random state is not
    touched). For datasets that are not mmengine ``BaseDataset``s (finetune, FCMAE)."""
    draw, tried = random.Random(index), set()
    for _ in range(min(max_tries, size)):
        try:
            return load(index)
        except UnreadableSample as bad:
            report_skipped(bad.path, bad.reason)
            last = bad
        tried.add(index)
        while index in tried and len(tried) < size:
            index = draw.randrange(size)
    raise RunStopped(f'{len(tried)} samples drawn in a row were unreadable (the last: {last}); the '
                     'dataset looks broken: run python tools/check_dataset.py CONFIG')
