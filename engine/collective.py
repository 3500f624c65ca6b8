"""One flag agreed on by every process of a distributed run (a no-op in a single process)."""
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
