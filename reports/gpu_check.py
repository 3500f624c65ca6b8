"""``tools/gpu_check.py``: every training of the toolkit for a few iterations, one table.

Each row is one ``reports.gpu_runs`` job (the real config, synthetic in-memory data) run for
``warmup`` + ``iters`` iterations, eager or with the backbone compiled; a row fails when an
iteration raises or a loss is not finite. ``--budget-s`` bounds the whole: a row whose start-up
would not fit is skipped, and a row is cut to the iterations that fit, each said in its note.
``--ddp N`` runs the same rows in N processes under DistributedDataParallel (NCCL on N GPUs,
gloo on the CPU).
"""
import gc
import json
import os
import socket
import sys
import time
from datetime import timedelta

import torch

from reports import gpu_runs

# Per device: backbone size, inputs (the recipes' sizes on a GPU), iterations.
DEFAULTS = {
    'cuda': dict(size='base', det_resolution=1024, seg_resolution=512, resolution=224, rois=None,
                 warmup=3, iters=10),
    'cpu': dict(size='atto', det_resolution=128, seg_resolution=128, resolution=64, rois=32,
                warmup=1, iters=2),
}
CPU_BATCH = {'det': 2, 'seg': 2, 'image': 4}   # on a GPU: the config's per-GPU batch
# Seconds to build a run and take its warm-up iterations, before a row starts (the budget's
# guess; the iterations after it are planned from the measured warm-up).
STARTUP_S = {('cuda', False): 20.0, ('cuda', True): 120.0, ('cpu', False): 5.0, ('cpu', True): 60.0}


class Clock:
    """The ``--budget-s`` deadline (``inf``: no limit)."""

    def __init__(self, budget_s):
        self.start = time.perf_counter()
        self.budget_s = budget_s

    def elapsed(self):
        return time.perf_counter() - self.start

    def left(self):
        return self.budget_s - self.elapsed()


def plan_rows(args):
    """(run, compiled) in order: every eager row first, then the compiled ones."""
    rows = [(run, False) for run in args.runs]
    rows += [(run, True) for run in args.compile if run in args.runs]   # in --compile's order
    return rows


def startup_estimate(args, compiled):
    kind = 'cuda' if args.device.startswith('cuda') else 'cpu'
    if compiled and kind == 'cpu' and args.compile_backend != 'inductor':
        return 15.0
    return STARTUP_S[(kind, compiled)]


def row_inputs(args, run):
    task = gpu_runs.TASKS[run]
    resolution = {'det': args.det_resolution, 'seg': args.seg_resolution}.get(task, args.resolution)
    return task, resolution


def batch_of(args, run, cfg_batch):
    if args.batch is not None:
        return args.batch
    if args.device.startswith('cuda'):
        return cfg_batch
    return CPU_BATCH[gpu_runs.TASKS[run]]


def config_batch(run, size):
    from mmengine.config import Config
    return Config.fromfile(gpu_runs.config_path(run, size)).train_dataloader.batch_size


# -- one row --------------------------------------------------------------------------------------
def new_row(args, run, compiled, world):
    task, resolution = row_inputs(args, run)
    return dict(run=run, size=args.size, compiled=compiled, dtype=None, batch=None,
                resolution=resolution, world=world, iters=0, s_per_iter=None, img_per_s=None,
                peak_gib=None, startup_s=None, status='ok', note='', config=None)


def check_row(args, run, compiled, clock, dist=None):
    """Build, warm up and time one row; returns its dict (status ok / failed / skipped / config
    missing). ``dist``: (rank, world, device) under DDP."""
    world = dist[1] if dist else 1
    device = dist[2] if dist else args.device
    row = new_row(args, run, compiled, world)
    try:
        cfg_batch = config_batch(run, args.size)
    except gpu_runs.ConfigMissing as err:
        return dict(row, status='config missing', note=str(err))
    needs = startup_estimate(args, compiled)
    if not agree(dist, clock.left() >= needs, rank0=True):
        return dict(row, status='skipped', note=f'start-up needs ~{needs:.0f} s, {max(clock.left(), 0):.0f} s '
                                                 f'left of --budget-s {args.budget_s:g}')
    row['batch'] = batch_of(args, run, cfg_batch)
    cuda = str(device).startswith('cuda')
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    if compiled:
        torch._dynamo.reset()   # each compiled row compiles for its own shapes, as a real run
    job = None
    started = time.perf_counter()
    try:
        options = dict(backend=args.compile_backend) if compiled else None
        job = gpu_runs.build_job(run, args.size, device, row['resolution'], row['batch'], options,
                                 seed=args.seed, rois=args.rois)
        row['startup_s'] = time.perf_counter() - started   # build; then + warm-up iterations
        model = wrap_ddp(job, device, dist) if dist else job.model
        row.update(dtype=job.dtype, config=job.config, note='; '.join(job.notes))
        if run in args.inject_nan:
            gpu_runs.poison_loss(job.model)
        times = iterate(job, model, args, clock, row, dist, cuda, started)
    except Exception as err:  # noqa: BLE001  (a row's failure is reported, the others still run)
        if dist:
            raise   # the other processes wait in a collective: the DDP run stops as a whole
        message = str(err).strip().splitlines()
        row.update(status='failed', note=f'{type(err).__name__}: {message[0] if message else ""}'[:300])
        times = []
    finally:
        del job
    if times:
        row['s_per_iter'] = sum(times) / len(times)
        row['img_per_s'] = row['batch'] * world / row['s_per_iter']
    if cuda:
        row['peak_gib'] = torch.cuda.max_memory_allocated(device) / 2 ** 30
    return row


def iterate(job, model, args, clock, row, dist, cuda, started):
    """Warm-up then timed iterations; per-iteration times of the timed ones. A non-finite loss
    (on any process) fails the row at that iteration."""
    times = []
    total = args.warmup + args.iters
    for i in range(total):
        if i >= args.warmup and not enough_time(clock, times or [row.get('_last', 0.0)], dist):
            row['note'] = join(row['note'], f'cut to {len(times)} of {args.iters} iterations by '
                                             f'--budget-s {args.budget_s:g}')
            if not times:
                row['status'] = 'skipped'
            break
        batch = job.make_batch()
        sync(cuda)
        begin = time.perf_counter()
        loss = job.step(batch, model)
        finite = bool(torch.isfinite(loss.detach().float()).all())
        sync(cuda)
        spent = time.perf_counter() - begin
        row['iters'] = max(0, i + 1 - args.warmup)
        if not agree(dist, finite):
            row.update(status='failed', note=join(row['note'], f'loss not finite at iteration '
                                                                f'{i + 1} (loss {loss.item():.4g})'))
            break
        if i < args.warmup:
            row['_last'] = spent
            if i == args.warmup - 1:
                row['startup_s'] = time.perf_counter() - started
        else:
            times.append(spent)
    row.pop('_last', None)
    if row['status'] != 'ok':
        return []
    return times


def enough_time(clock, times, dist):
    """True when one more iteration (as long as the slowest so far) fits the budget (decided on
    rank 0 and shared, so that every process stops at the same iteration)."""
    fits = clock.left() >= max(times)
    if dist:
        return agree(dist, fits, rank0=True)
    return fits


def agree(dist, flag, rank0=False):
    """``flag`` of every process ANDed (or rank 0's alone); the flag itself without DDP."""
    if not dist:
        return flag
    rank, _, device = dist
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    if rank0:
        torch.distributed.broadcast(value, src=0)
    else:
        torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MIN)
    return bool(value.item() > 0)


def sync(cuda):
    if cuda:
        torch.cuda.synchronize()


def join(*parts):
    return '; '.join(p for p in parts if p)


# -- the whole check ------------------------------------------------------------------------------
def run_check(args, dist=None):
    clock = Clock(args.budget_s)
    rows = []
    for run, compiled in plan_rows(args):
        rows.append(check_row(args, run, compiled, clock, dist))
        name = row_name(rows[-1])
        if not dist or dist[0] == 0:
            print(f'gpu_check: {name}: {rows[-1]["status"]} ({clock.elapsed():.0f} s)', flush=True)
    return rows, clock.elapsed()


def row_name(row):
    return f'{row["run"]} {row["size"]} {"compiled" if row["compiled"] else "eager"}'


def failed(rows):
    return [r for r in rows if r['status'] == 'failed']


# -- DDP ------------------------------------------------------------------------------------------
def ddp_backend(world):
    """NCCL with one GPU per process, gloo on the CPU; None with a reason when neither fits."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus >= world:
        return 'nccl', None
    if gpus:
        return None, (f'--ddp {world} needs {world} GPUs ({gpus} visible); use --ddp {gpus} or '
                      '--device cpu for the gloo path')
    return 'gloo', None


def wrap_ddp(job, device, dist):
    from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
    sync_bn = any(isinstance(m, torch.nn.SyncBatchNorm) for m in job.model.modules())
    if sync_bn and not str(device).startswith('cuda'):
        job.model = revert_sync_batchnorm(job.model)   # SyncBN needs CUDA tensors
        job.notes.append('SyncBN -> BN (gloo, CPU)')
    ids = [torch.device(device).index] if str(device).startswith('cuda') else None
    return MMDistributedDataParallel(module=job.model, device_ids=ids, broadcast_buffers=False)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def ddp_worker(rank, world, backend, port, args, result_path):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.distributed.init_process_group(backend, rank=rank, world_size=world,
                                         timeout=timedelta(seconds=args.ddp_timeout_s))
    device = f'cuda:{rank}' if backend == 'nccl' else 'cpu'
    if backend == 'nccl':
        torch.cuda.set_device(rank)
    if backend == 'gloo':
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    quiet_logs()
    try:
        rows, elapsed = run_check(args, (rank, world, device))
        if rank == 0:
            with open(result_path, 'w') as f:
                json.dump(dict(rows=rows, elapsed_s=elapsed), f)
    finally:
        torch.distributed.destroy_process_group()


def run_ddp(args, world, tmp_dir):
    """Rows measured in ``world`` processes; rank 0's rows (img/s over all processes)."""
    import torch.multiprocessing as mp
    backend, reason = ddp_backend(world)
    if backend is None:
        raise ValueError(reason)
    os.makedirs(tmp_dir, exist_ok=True)
    result_path = os.path.join(tmp_dir, f'.gpu_check_ddp_{os.getpid()}.json')
    if backend == 'gloo':   # CPU: forked processes inherit the imports (no CUDA to fork)
        import backbones  # noqa: F401  (imports mmdet and mmseg once, before the fork)
    mp.start_processes(ddp_worker, args=(world, backend, free_port(), args, result_path),
                       nprocs=world, start_method='fork' if backend == 'gloo' else 'spawn', join=True)
    with open(result_path) as f:
        result = json.load(f)
    os.remove(result_path)
    for row in result['rows']:
        row['note'] = join(row['note'], f'DDP {backend}')
    return result['rows'], result['elapsed_s']


def quiet_logs():
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine', log_level='WARNING')


# -- table ----------------------------------------------------------------------------------------
def describe_machine(args, world):
    if args.device.startswith('cuda'):
        name = torch.cuda.get_device_name()
    else:
        name = f'CPU ({os.cpu_count()} cores)'
    return f'{name} x {world}' if world > 1 else name


def header(args, world, elapsed):
    return (f'ConvNeXt V2-{args.size} trainings on {describe_machine(args, world)}, torch '
            f'{torch.__version__}; {args.warmup} warm-up + {args.iters} timed iterations per row; '
            f'{elapsed:.0f} s in all (--budget-s {args.budget_s:g}); command: '
            f'python tools/gpu_check.py {" ".join(args.argv)}'.rstrip())


def markdown(rows, title):
    lines = [title, '', '| run | dtype | compiled | batch x procs | input | s/iter | img/s | peak GiB '
             '| start-up s | status | note |', '|' + '---|' * 11]
    for r in rows:
        fmt = lambda v, spec: '-' if v is None else format(v, spec)  # noqa: E731
        lines.append(
            f"| {r['run']} {r['size']} | {r['dtype'] or '-'} | {'yes' if r['compiled'] else 'no'} | "
            f"{fmt(r['batch'], 'd')} x {r['world']} | {r['resolution']} | {fmt(r['s_per_iter'], '.3f')} | "
            f"{fmt(r['img_per_s'], '.1f')} | {fmt(r['peak_gib'], '.2f')} | {fmt(r['startup_s'], '.1f')} | "
            f"{r['status']} | {r['note']} |")
    return '\n'.join(lines)


def write(out, rows, title, args):
    os.makedirs(out, exist_ok=True)
    table = markdown(rows, title)
    with open(os.path.join(out, 'gpu_check.json'), 'w') as f:
        saved = {k: v for k, v in vars(args).items() if k != 'argv'}
        json.dump(dict(header=title, args=saved, rows=rows), f, indent=1)
    with open(os.path.join(out, 'gpu_check.md'), 'w') as f:
        f.write(table + '\n')
    return table


def summary(rows):
    """The closing line and exit code: 1 naming each failed row, else 0."""
    bad = failed(rows)
    skipped = [row_name(r) for r in rows if r['status'] == 'skipped']
    missing = [row_name(r) for r in rows if r['status'] == 'config missing']
    notes = ''.join(f'; {label}: {", ".join(names)}' for label, names in
                    (('skipped by --budget-s', skipped), ('config missing', missing)) if names)
    if bad:
        names = ', '.join(f'{row_name(r)} ({r["note"].split("; ")[-1]})' for r in bad)
        return 1, f'gpu_check: {len(bad)} of {len(rows)} runs failed: {names}{notes}'
    return 0, f'gpu_check: all {len(rows) - len(skipped) - len(missing)} runs ran, every loss finite{notes}'


def main_check(args):
    """Run the check (in-process or DDP), print and write the table; returns the exit code."""
    quiet_logs()
    if args.ddp > 1:
        rows, elapsed = run_ddp(args, args.ddp, args.out)
    else:
        rows, elapsed = run_check(args)
    title = header(args, args.ddp, elapsed)
    print(write(args.out, rows, title, args))
    code, line = summary(rows)
    print(line, file=sys.stderr if code else sys.stdout, flush=True)
    return code
