"""Training-step speed and peak memory of this ConvNeXt V2 next to its peers (timm's backbone,
FCMAE's masked-dense path, Mask R-CNN / UperNet with timm's backbone): the rows of
``tools/benchmark.py``. Imports every stage package; nothing of ours imports it.
"""
import copy
import statistics
import time

import torch
import torch.nn as nn

import backbones  # noqa: F401  (registers ConvNeXtV2)
from backbones.checkpoints.layouts import to_timm
from finetune.classifier import ConvNeXtV2Classifier

from .gpu_runs import det_batch, seg_batch


class NotTheSameComputation(ValueError):
    """The two sides of a row would time different functions."""


PAPER_SPARSE = dict(speed=1.3, memory=0.5)   # Appendix C: sparse vs dense-masked encoder
TIMM_CONV_MLP = {'atto', 'femto', 'pico', 'nano'}   # timm writes their MLP as 1x1 convs


def measure(step, device, warmup, iters, repeats):
    """(median seconds per step, peak memory in GiB or None on CPU)."""
    cuda = device.startswith('cuda')
    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iters):
            step()
        if cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) / iters)
    peak = torch.cuda.max_memory_allocated() / 2 ** 30 if cuda else None
    return statistics.median(times), peak


def autocast(device, dtype):
    enabled = device.startswith('cuda') and dtype is not None
    return torch.autocast('cuda' if enabled else 'cpu', dtype=dtype or torch.bfloat16, enabled=enabled)


def train_step(model, make_loss, device, dtype=None, scaler=None):
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, dtype):
            loss = make_loss(model)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
    return step


# -- (a) backbone vs timm -----------------------------------------------------------------------
def paired_classifiers(size, device):
    """Our classifier and timm's with the same weights, channels-last, on ``device``.

    GRN's gamma and beta start at zero (GRN is then the identity); they get random values here so
    that ``same_computation`` compares the whole block, GRN included."""
    import timm
    ours = ConvNeXtV2Classifier(size, num_classes=1000, head_init_scale=1.0)
    ours.init_weights()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in ours.named_parameters():
            if '.grn.' in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    weights = {k.replace('backbone.', '', 1): v for k, v in ours.state_dict().items()}
    peer = timm.create_model(f'convnextv2_{size}')
    peer.load_state_dict(to_timm(weights, conv_mlp=size in TIMM_CONV_MLP))
    return [m.to(device, memory_format=torch.channels_last).train() for m in (ours, peer)]


def same_computation(ours, peer, x, size, tolerance=1e-7):
    """Max |logit difference| of the two models on two of the images, in float64 on the CPU (the
    timed dtype and kernels round differently); stop if they do not compute the same function."""
    images = x[:2].detach().to('cpu', torch.float64)
    with torch.no_grad():
        logits = [copy.deepcopy(m).to('cpu', torch.float64).eval() for m in (ours, peer)]
        ours_logits, peer_logits = logits[0](images, mode='tensor'), logits[1](images)
    gap = (ours_logits - peer_logits).abs().max().item()
    if gap > tolerance * max(ours_logits.abs().max().item(), 1.0):
        raise NotTheSameComputation(
            f'ConvNeXt V2-{size} and timm convnextv2_{size} are not the same computation (max '
            f'|logit diff| {gap:.2e} in float64); timing them side by side would compare '
            'different models - check backbones/checkpoints/layouts.py to_timm')
    return gap


def backbone_rows(args, dtype):
    rows = []
    x = torch.randn(args.batch, 3, args.resolution, args.resolution, device=args.device)
    x = x.to(memory_format=torch.channels_last)
    labels = torch.randint(0, 1000, (args.batch,), device=args.device)
    modes = ['eager'] if args.no_compile else ['eager', 'compiled']
    for size in args.sizes:
        ours, peer = paired_classifiers(size, args.device)
        gap = same_computation(ours, peer, x, size)
        for mode in modes:
            results = []
            for model, call in ((ours, lambda m: m(x, mode='tensor')), (peer, lambda m: m(x))):
                runnable = torch.compile(model) if mode == 'compiled' else model

                def loss(m, runnable=runnable, call=call):
                    return nn.functional.cross_entropy(call(runnable).float(), labels)
                results.append(measure(train_step(model, loss, args.device, dtype), args.device,
                                       args.warmup, args.iters, args.repeats))
            rows.append(row(f'backbone {size} {mode}', f'timm convnextv2_{size} {mode}',
                            args.batch, *results, note=f'float64 max |logit diff| {gap:.2e}'))
    return rows


# -- (b) FCMAE dense-masked vs sparse -----------------------------------------------------------
def fcmae_rows(args, dtype):
    from pretrain.fcmae import FCMAE
    rows = []
    x = torch.randn(args.batch, 3, args.resolution, args.resolution, device=args.device)
    for size in args.fcmae_sizes:
        results = []
        for sparse in (True, False):
            torch.manual_seed(0)
            model = FCMAE(size, mask_ratio=0.6).to(args.device).train()
            model.encoder.sparse_mlp = sparse

            def loss(m):
                return m(x, mode='loss')['loss']
            results.append(measure(train_step(model, loss, args.device, dtype), args.device,
                                   args.warmup, args.iters, args.repeats))
            del model
        rows.append(row(f'fcmae {size} sparse', f'fcmae {size} masked-dense', args.batch, *results,
                        note=f'paper: {PAPER_SPARSE["speed"]}x speed, {PAPER_SPARSE["memory"]}x memory'))
    return rows


# -- (c) Mask R-CNN / UperNet with this backbone vs timm's ---------------------------------------
def dense_task_rows(args):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from reports.timm_backbone import TimmConvNeXtV2  # noqa: F401  (registers the peer backbone)
    rows = []
    tasks = [('det', 'det_configs/mask-rcnn_convnextv2-{}_fpn_lsj-3x_coco.py', args.det_resolution,
              torch.float16), ('seg', 'seg_configs/upernet_convnextv2-{}_8xb2-amp-160k_ade20k-512x512.py',
                               args.seg_resolution, torch.bfloat16)]
    for task, pattern, resolution, dtype in tasks:
        if task not in args.rows:
            continue
        cfg = Config.fromfile(pattern.format(args.det_size))
        init_default_scope(cfg.default_scope)
        results = []
        for backbone_type in ('ConvNeXtV2', 'TimmConvNeXtV2'):
            model = build_dense_model(cfg, backbone_type, args.device)
            batch = dense_batch(task, args.dense_batch, resolution, args.device)
            scaler = torch.amp.GradScaler('cuda') if dtype == torch.float16 and 'cuda' in args.device else None

            def loss(m, batch=batch):
                data = m.data_preprocessor(batch, True)
                losses = m(**data, mode='loss')
                return m.parse_losses(losses)[0]
            results.append(measure(train_step(model, loss, args.device, dtype, scaler), args.device,
                                   args.warmup, args.iters, args.repeats))
            del model
        name = 'Mask R-CNN' if task == 'det' else 'UperNet'
        rows.append(row(f'{name} {args.det_size} {resolution}px', f'{name} + timm backbone',
                        args.dense_batch, *results, note=f'AMP {str(dtype).split(".")[-1]}'))
    return rows


def build_dense_model(cfg, backbone_type, device):
    from mmengine.registry import MODELS
    model_cfg = cfg.model.copy()
    model_cfg.backbone.init_cfg = None
    model_cfg.backbone.type = backbone_type
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model.to(device).train()


def dense_batch(task, batch, resolution, device):
    """The det (5 objects an image) or seg (ADE's 150 classes) batch of the gpu_check runs."""
    if task == 'det':
        return det_batch(batch, resolution, device, objects=5)
    return seg_batch(batch, resolution, device, classes=150)


# -- table --------------------------------------------------------------------------------------
def row(name, peer, batch, ours, theirs, note=''):
    (t_ours, m_ours), (t_peer, m_peer) = ours, theirs
    return dict(case=name, peer=peer, batch=batch, img_per_s=batch / t_ours, peer_img_per_s=batch / t_peer,
                speedup=t_peer / t_ours, peak_gib=m_ours, peer_peak_gib=m_peer,
                memory_ratio=(m_ours / m_peer) if m_ours and m_peer else None, note=note)


def markdown(rows, header):
    lines = [header, '', '| case | img/s | peer | peer img/s | speed ratio | peak GiB | peer peak GiB '
             '| memory ratio | note |', '|' + '---|' * 9]
    for r in rows:
        fmt = lambda v, spec: '-' if v is None else format(v, spec)  # noqa: E731
        lines.append(f"| {r['case']} | {r['img_per_s']:.1f} | {r['peer']} | {r['peer_img_per_s']:.1f} | "
                     f"{r['speedup']:.2f}x | {fmt(r['peak_gib'], '.2f')} | {fmt(r['peer_peak_gib'], '.2f')} | "
                     f"{fmt(r['memory_ratio'], '.2f')} | {r['note']} |")
    return '\n'.join(lines)
