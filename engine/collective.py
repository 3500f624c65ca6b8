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
