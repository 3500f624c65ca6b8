"""One flag agreed on by every process of a distributed run, and the run's clean exit from its
process group (both no-ops in a single process)."""
import torch
from mmengine.dist import get_dist_info


def any_rank(flag):
    """True on every rank if ``flag`` is True on at least one rank."""
    if get_dist_info()[1] <= 1:
        return bool(flag)
    tensor = torch.tensor([1.0 if flag else 0.0])
    if torch.distributed.get_backend() == 'nccl':
        tensor = tensor.cuda()
    torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX)
    return bool(tensor.item() > 0)


def leave_process_group():
    """Destroy the default process group while the interpreter is fully alive. Left to interpreter
    exit, Gloo's worker threads can still hold tensors whose release needs the GIL, and a rank aborts
    ("terminate called without an active exception", SIGABRT) after a clean run. Called only on a
    clean exit: after an error other ranks may be inside a collective that teardown would block."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def exit_distributed_run():
    """End a process of a multi-process run that finished cleanly, without interpreter teardown:
    every rank meets at a barrier (rank 0's last checkpoint is written by then), the logs are
    flushed and closed, and the process exits 0 at once. Torch's Gloo threads can abort a rank at
    interpreter exit ("terminate called without an active exception", SIGABRT) even after
    ``destroy_process_group``, turning a finished run into a failed job; seen in CI on both the
    preemption exit and a normal end. A no-op in a single process."""
    import logging
    import os
    import sys
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()) or \
            torch.distributed.get_world_size() <= 1:
        return
    torch.distributed.barrier()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
