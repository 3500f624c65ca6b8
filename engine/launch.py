"""What every training entry point shares: the command line, the config, resume and machine fit.

``tools/train.py`` (mmdet / mmseg), ``tools/pretrain_fcmae.py`` (FCMAE) and ``tools/finetune_imagenet.py`` parse the
same launcher options, load configs the same way and fall back the same way on a machine without a
GPU (fp32 instead of AMP, gloo instead of nccl). ``--amp`` behaves the same everywhere: it needs a GPU.

Order of a launch: ``load_config`` (the config and ``--cfg-options`` checked, engine/preflight.py),
the tool's preflight (nothing written yet), ``claim_or_stop`` (the work dir guard: no fresh run over
an earlier run's checkpoints, one run per work dir), the Runner, ``train_or_stop`` (an error of the
run is one line on the screen, its traceback in the work dir's log; Ctrl-C names the last complete
checkpoint).
"""
import logging
import os
import os.path as osp
import sys
import traceback

import torch
from mmengine.config import DictAction
from mmengine.logging import print_log
from mmengine.runner import find_latest_checkpoint

from .collective import exit_distributed_run, leave_process_group
from .messages import fail, typed_line
from .preemption import restore_handlers
from .preflight import PreflightError, read_config
from .skipped_samples import clear_records, set_records_dir
from .stops import RunStopped
from .work_dir_guard import WorkDirError, claim_work_dir

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
_HELD_LOCKS = []   # work dir locks of this process (claim_or_stop)
_WORLD_SIZE_VARIABLES = {'pytorch': 'WORLD_SIZE', 'slurm': 'SLURM_NTASKS',
                         'mpi': 'OMPI_COMM_WORLD_SIZE'}


def add_launch_arguments(parser, amp_help='mixed precision (needs a GPU)'):
    """The options every training entry point takes."""
    parser.add_argument('--work-dir', help='logs and checkpoints (default work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const='auto',
                        help='resume from CKPT, or (no value) from the work dir\'s last checkpoint')
    parser.add_argument('--overwrite', action='store_true',
                        help='start a fresh run even though the work dir holds checkpoints')
    if amp_help:
        parser.add_argument('--amp', action='store_true', help=amp_help)
    add_cfg_options(parser, 'train_dataloader.batch_size=4')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    return parser


def add_cfg_options(parser, example):
    """``--cfg-options`` (existing keys, same types) and ``--allow-new-keys``."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help=f'override existing config entries (same type), e.g. {example}')
    parser.add_argument('--allow-new-keys', action='store_true',
                        help='let --cfg-options add entries the config does not have')


def parse_launch_args(parser, argv=None):
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_config(path, cfg_options=None, work_dir=None, launcher='none', allow_new_keys=False):
    """The config with ``cfg_options`` merged; a config that does not parse, an option naming no
    entry of it or changing a value's type stops with one line."""
    try:
        cfg = read_config(path, cfg_options, allow_new_keys)
    except PreflightError as err:
        fail(str(err))
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    set_records_dir(cfg.work_dir)   # before any DataLoader worker starts (they inherit it)
    return cfg


def set_resume(cfg, resume):
    """Apply ``--resume [CKPT]``; True when the run will start from a checkpoint. Touches no file:
    the work dir is claimed by ``claim_or_stop`` after the preflight."""
    if resume is None:
        return False
    cfg.resume = True
    if resume == 'auto':
        cfg.load_from = None
        return find_latest_checkpoint(cfg.work_dir) is not None
    if not osp.isfile(resume):
        fail(f'--resume {resume}: no such checkpoint')
    cfg.load_from = resume
    return True


def claim_or_stop(cfg, resume, overwrite=False):
    """After the preflight, before the Runner: claim the work dir (engine/work_dir_guard.py) or stop
    with one line. A fresh run does not start over an earlier run's checkpoints without
    ``--overwrite``, and no two runs share a work dir at once (the lock lives until exit)."""
    try:
        lock = claim_work_dir(cfg.work_dir, resume is not None, overwrite)
    except WorkDirError as err:
        fail(str(err))
    if resume is None:
        clear_records(cfg.work_dir)   # a fresh run does not inherit an old run's skipped files
    if lock is not None:
        _HELD_LOCKS.append(lock)   # released when train_or_stop ends (or at exit)
    return lock


def use_amp(cfg, dtype='float16'):
    """``--amp``: autocast with a dynamic loss scale. fp16 by default: mmcv 2.1's RoIAlign has no
    bf16 kernel; a config that already chose a dtype keeps it."""
    if not torch.cuda.is_available():
        fail('--amp needs a CUDA GPU and none is visible; drop --amp to train in fp32')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('dtype', dtype)
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def use_fp32(cfg):
    """Train in float32: the config's AmpOptimWrapper becomes a plain OptimWrapper (its autocast
    dtype and loss scale dropped). True when something changed."""
    wrapper = cfg.get('optim_wrapper')
    if not wrapper or wrapper.get('type') != 'AmpOptimWrapper':
        return False
    wrapper.type = 'OptimWrapper'
    for key in ('dtype', 'loss_scale', 'use_fsdp'):
        wrapper.pop(key, None)
    return True


def fit_to_machine(cfg):
    """On a machine without a GPU: fp32 instead of the config's AMP, gloo instead of nccl, and
    DDP without device ids (it refuses them for CPU modules). Returns a note or None."""
    if torch.cuda.is_available():
        return None
    note = None
    if use_fp32(cfg):
        note = ('no GPU: training in fp32 (float32) with OptimWrapper instead of the config\'s '
                'AmpOptimWrapper')
        print_log(note, logger='current')
    if cfg.get('launcher', 'none') != 'none':
        cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
        if cfg.launcher == 'pytorch' and not torch.distributed.is_initialized():
            # mmengine's init_dist('pytorch') calls torch.cuda.set_device unconditionally:
            # join the torchrun group here, and the Runner then finds it already set up.
            torch.distributed.init_process_group(backend='gloo')
        wrapper_cfg = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
        wrapper_cfg['device_ids'] = None
        cfg.model_wrapper_cfg = wrapper_cfg
        # one process needs nothing: mmengine reverts SyncBN to BN when there is no process group
        if sync_bn_to_bn(cfg.get('model')):
            print_log('no GPU: SyncBN layers run as BN, each process normalising its own batch '
                      '(torch\'s SyncBatchNorm needs a GPU)', logger='current')
    return note


def sync_bn_to_bn(node):
    """Every ``type='SyncBN'`` in a config node becomes ``'BN'`` (in place); True when one did."""
    changed = False
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'], changed = 'BN', True
        for value in node.values():
            changed = sync_bn_to_bn(value) or changed
    elif isinstance(node, (list, tuple)):
        for value in node:
            changed = sync_bn_to_bn(value) or changed
    return changed


def world_size(launcher):
    """The number of processes of a launch, read before torch.distributed is initialised."""
    if launcher == 'none':
        return 1
    variable = _WORLD_SIZE_VARIABLES[launcher]
    if variable not in os.environ:
        fail(f'--launcher {launcher} but ${variable} is not set; start with torchrun, srun or mpirun')
    return int(os.environ[variable])


def describe_lr_scaling(cfg, launcher):
    """One line: the total batch the lr assumes, the real one, and the factor the Runner applies."""
    scale = cfg.get('auto_scale_lr')
    if not scale or 'base_batch_size' not in scale:
        return 'the config states no auto_scale_lr.base_batch_size: the lr is used as written'
    processes = world_size(launcher)
    real = processes * cfg.train_dataloader.batch_size
    base = scale['base_batch_size']
    if not scale.get('enable', False):
        return f'lr auto-scaling disabled: lr as written for {base}, the real total batch is {real}'
    return (f'total batch {real} = {processes} process(es) x {cfg.train_dataloader.batch_size}; '
            f'the lr is written for {base}: scaled by {real / base:g}')


def build_runner(cfg):
    """The Runner of ``cfg``; an error while building it (one the preflight cannot see) ends the
    process with one line, the traceback in ``<work_dir>/traceback.log``."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    try:
        return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    except Exception as err:   # noqa: BLE001
        log = _append_traceback(cfg.work_dir)
        _stop(f'error: the run could not start: {typed_line(err)} (traceback in {log})', 1)


def train_or_stop(runner, run=None):
    """``runner.train()`` (or ``run()``). Whatever ends it early ends the process with one line:
    a ``RunStopped`` with its own message, any other error with its type and message (the full
    traceback goes to the work dir's log file, not the screen), Ctrl-C with the last complete
    checkpoint to ``--resume`` from. Exit status 1 (130 for Ctrl-C). A clean end (the preemption
    hook's exit 0 included) of a multi-process training exits at once after a barrier
    (``exit_distributed_run``); otherwise it leaves the process group before the interpreter exits."""
    try:
        result = (run or runner.train)()
    except SystemExit as done:   # the preemption hook's exit 0 is a clean exit too
        if not done.code:
            _release_held_locks()
            exit_distributed_run()
            leave_process_group()
        raise
    except RunStopped as stop:
        _stop(f'error: {stop}', 1)
    except KeyboardInterrupt:
        last = find_latest_checkpoint(runner.work_dir)
        where = (f'the last complete checkpoint is {last}; continue with --resume' if last else
                 'no checkpoint was written yet')
        _stop(f'interrupted: {where}', 130)
    except Exception as err:   # noqa: BLE001  (one line here, the traceback in the log)
        log = log_traceback(runner)
        _stop(f'error: the run failed: {typed_line(err)} (traceback in {log})', 1)
    finally:
        restore_handlers()
        _release_held_locks()
    if run is None:   # training: nothing of the tool follows it
        exit_distributed_run()
    leave_process_group()
    return result


def _release_held_locks():
    while _HELD_LOCKS:
        _HELD_LOCKS.pop().release()


def _stop(line, code):
    print(line, file=sys.stderr, flush=True)
    sys.exit(code)


def _append_traceback(work_dir):
    """The current exception's traceback appended to ``<work_dir>/traceback.log``; returns it."""
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, 'traceback.log')
    with open(path, 'a') as f:
        f.write(traceback.format_exc())
    return path


def log_traceback(runner):
    """Append the current exception's traceback to the runner's log file only (not the console);
    returns that file (``<work_dir>/traceback.log`` when the logger writes none)."""
    for handler in getattr(runner.logger, 'handlers', ()):
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                handler.flush()
                with open(handler.baseFilename, 'a') as f:
                    f.write(traceback.format_exc())
            finally:
                handler.release()
            return handler.baseFilename
    return _append_traceback(runner.work_dir)
