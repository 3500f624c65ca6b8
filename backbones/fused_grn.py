"""GRN (paper Algorithm 1) on channels-last CUDA tensors in Triton: two passes over the 4C-wide
activation each way instead of the five or six separate kernels of the plain-torch ``GRN``.

Forward, for x of shape (N, H, W, C) with S = H * W positions:
    g[n, c] = sqrt(sum_s x^2),  m[n] = mean_c g + eps,  nx = g / m
    y = x * (1 + gamma * nx) + beta
Backward (A[n, c] = sum_s dy * x, zero where g = 0 as torch.linalg.vector_norm's gradient):
    dx = dy * (1 + gamma * nx) + x * (gamma * A / m - sum_c(gamma * A * g) / (C * m^2)) / g
    dgamma = sum_n A * nx,  dbeta = sum_{n, s} dy
Each direction is one spatial reduction kernel (per image and channel block) and one elementwise
kernel; the (N, C) algebra between them is plain torch. Used by ``GRN`` only on CUDA, outside
torch.compile (Inductor fuses the plain code itself), and only when switched on
(``CNV2_FUSED_GRN=1`` or ``backbones.fused_grn.ENABLED = True``) until a GPU run has measured it
against the plain path (``tools/benchmark.py``). ``TRITON_INTERPRET=1`` runs the same kernels on
CPU tensors, which is how the suite checks their numbers against a float64 computation.
"""
import os
import warnings

import torch

try:
    import triton
    import triton.language as tl
except ImportError:   # no Triton: GRN keeps its plain-torch path
    triton = None

ENABLED = os.environ.get('CNV2_FUSED_GRN') == '1' and triton is not None
if os.environ.get('CNV2_FUSED_GRN') == '1' and triton is None:
    warnings.warn('CNV2_FUSED_GRN=1, but Triton is not installed: GRN runs the plain torch code')
BLOCK_S, BLOCK_C = 32, 64
TARGET_PROGRAMS = 1024   # about 8 per SM of an H100 / H200 (132 SMs)


def available(x):
    """True where the fused kernels may run on ``x``: switched on, Triton present, a CUDA tensor
    (any tensor under ``TRITON_INTERPRET=1``), not while torch.compile traces."""
    if not ENABLED or triton is None or torch.compiler.is_compiling():
        return False
    return x.is_cuda or os.environ.get('TRITON_INTERPRET') == '1'


if triton is not None:
    @triton.jit
    def _spatial_sums(a_ptr, b_ptr, ab_out, a_out, S, C, CHUNK, SPLIT, WITH_A_SUM: tl.constexpr,
                      BLOCK_S: tl.constexpr, BLOCK_C: tl.constexpr):
        """Partial sums over the k-th CHUNK of positions for (N, S, C) contiguous a, b:
        ab_out[n, k, c] = sum a * b (and a_out[n, k, c] = sum a); the caller adds the SPLIT parts."""
        n = tl.program_id(0)
        cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
        k = tl.program_id(2)
        ab = tl.zeros([BLOCK_C], dtype=tl.float32)
        total = tl.zeros([BLOCK_C], dtype=tl.float32)
        base = n.to(tl.int64) * S * C
        for start in range(0, CHUNK, BLOCK_S):
            rows = k * CHUNK + start + tl.arange(0, BLOCK_S)
            inside = (rows[:, None] < S) & (cols[None, :] < C)
            offsets = base + rows[:, None].to(tl.int64) * C + cols[None, :]
            a = tl.load(a_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
            b = tl.load(b_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
            ab += tl.sum(a * b, axis=0)
            if WITH_A_SUM:
                total += tl.sum(a, axis=0)
        out = (n * SPLIT + k) * C + cols
        tl.store(ab_out + out, ab, mask=cols < C)
        if WITH_A_SUM:
            tl.store(a_out + out, total, mask=cols < C)

    @triton.jit
    def _scale_add(a_ptr, p_ptr, b_ptr, q_ptr, r_ptr, out_ptr, S, C, WITH_B: tl.constexpr,
                   WITH_R: tl.constexpr, BLOCK_S: tl.constexpr, BLOCK_C: tl.constexpr):
        """out = a * p[n, c] (+ b * q[n, c]) (+ r[c]) for (N, S, C) contiguous a, b."""
        n = tl.program_id(0)
        rows = tl.program_id(1) * BLOCK_S + tl.arange(0, BLOCK_S)
        cols = tl.program_id(2) * BLOCK_C + tl.arange(0, BLOCK_C)
        inside = (rows[:, None] < S) & (cols[None, :] < C)
        offsets = n.to(tl.int64) * S * C + rows[:, None].to(tl.int64) * C + cols[None, :]
        p = tl.load(p_ptr + n * C + cols, mask=cols < C, other=0.0)
        out = tl.load(a_ptr + offsets, mask=inside, other=0.0).to(tl.float32) * p[None, :]
        if WITH_B:
            q = tl.load(q_ptr + n * C + cols, mask=cols < C, other=0.0)
            out += tl.load(b_ptr + offsets, mask=inside, other=0.0).to(tl.float32) * q[None, :]
        if WITH_R:
            out += tl.load(r_ptr + cols, mask=cols < C, other=0.0)[None, :]
        tl.store(out_ptr + offsets, out.to(out_ptr.dtype.element_ty), mask=inside)


def _spatial_sums_of(a, b, with_a_sum=False):
    """(N, C) float32 sums over positions; the positions are split into enough chunks to keep the
    GPU busy at small batches (a det batch of 2 has only N * C / BLOCK_C programs otherwise), and
    the chunks' partial sums are added in a fixed order (deterministic, unlike atomics)."""
    n, c = a.shape[0], a.shape[-1]
    s = a.numel() // (n * c)
    column_blocks = triton.cdiv(c, BLOCK_C)
    split = max(1, min(triton.cdiv(s, BLOCK_S), triton.cdiv(TARGET_PROGRAMS, n * column_blocks)))
    chunk = triton.cdiv(triton.cdiv(s, split), BLOCK_S) * BLOCK_S
    split = triton.cdiv(s, chunk)
    ab = torch.empty(n, split, c, device=a.device, dtype=torch.float32)
    total = torch.empty_like(ab) if with_a_sum else ab
    _spatial_sums[(n, column_blocks, split)](a, b, ab, total, s, c, chunk, split, with_a_sum,
                                             BLOCK_S, BLOCK_C)
    return (ab.sum(1), total.sum(1)) if with_a_sum else ab.sum(1)


def _scale_add_of(a, p, b=None, q=None, r=None):
    n, c = a.shape[0], a.shape[-1]
    s = a.numel() // (n * c)
    out = torch.empty_like(a)
    grid = (n, triton.cdiv(s, BLOCK_S), triton.cdiv(c, BLOCK_C))
    _scale_add[grid](a, p, a if b is None else b, p if q is None else q, p if r is None else r,
                     out, s, c, b is not None, r is not None, BLOCK_S, BLOCK_C)
    return out


class FusedGRN(torch.autograd.Function):
    """``grn(x, gamma, beta, eps)`` on a contiguous (N, H, W, C) tensor; float32 accumulation."""

    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        x = x.contiguous()
        g = _spatial_sums_of(x, x).sqrt()
        m = g.mean(dim=-1, keepdim=True) + eps
        nx = g / m
        weight = gamma.reshape(-1).float()
        y = _scale_add_of(x, (1.0 + weight * nx).contiguous(), r=beta.reshape(-1).float().contiguous())
        ctx.save_for_backward(x, gamma, g, m, nx)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, gamma, g, m, nx = ctx.saved_tensors
        dy = dy.contiguous()
        a, dy_sum = _spatial_sums_of(dy, x, with_a_sum=True)
        weight = gamma.reshape(-1).float()
        weighted = weight * a
        spread = (weighted * g).sum(dim=-1, keepdim=True) / (g.shape[-1] * m * m)
        q = torch.where(g > 0, (weighted / m - spread) / torch.where(g > 0, g, torch.ones_like(g)),
                        torch.zeros_like(g))
        dx = _scale_add_of(dy, (1.0 + weight * nx).contiguous(), x, q.contiguous())
        dgamma = (a * nx).sum(dim=0).reshape(gamma.shape).to(gamma.dtype)
        dbeta = dy_sum.sum(dim=0).reshape(gamma.shape).to(gamma.dtype)
        return dx, dgamma, dbeta, None


def fused_grn(x, gamma, beta, eps):
    return FusedGRN.apply(x, gamma, beta, eps)
