"""The trainings of ``tools/gpu_check.py``, each built from its REAL config: Mask R-CNN and Cascade
Mask R-CNN (det_configs/, COCO LSJ), UperNet (seg_configs/, ADE20K 512), FCMAE (pretrain/configs/)
and the ImageNet finetune (finetune/configs/, mixup + EMA). Only what a check must change is
changed: the backbone starts from random weights (no download), the input size and batch, the
``compile`` switch, and fp32 instead of AMP on a machine without a GPU (``engine.launch``). The
data are synthetic and in memory (random images; boxes + masks, label maps, class indices).

A built run is one ``Job``: ``step(batch)`` is mmengine's own ``train_step`` (data preprocessor,
loss, ``parse_losses``, the config's optim wrapper with its layer-decay constructor and AMP dtype)
plus the config's EMA update where the recipe has one.
"""
import glob
import os.path as osp
from dataclasses import dataclass, field

import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RUNS = ('mask-rcnn', 'cascade-mask-rcnn', 'upernet', 'fcmae', 'finetune')
CONFIGS = {
    'mask-rcnn': 'det_configs/mask-rcnn_convnextv2-{size}_fpn_lsj-3x_coco.py',
    'cascade-mask-rcnn': 'det_configs/cascade-mask-rcnn_convnextv2-{size}_fpn_4conv1fc-giou_ms-crop-3x_coco.py',
    'upernet': 'seg_configs/upernet_convnextv2-{size}_8xb2-amp-160k_ade20k-512x512.py',
    'fcmae': 'pretrain/configs/fcmae_convnextv2_{size}_800e_in1k.py',
    'finetune': 'finetune/configs/finetune_convnextv2_{size}_*e_in1k.py',   # one epoch count per size
}
TASKS = {'mask-rcnn': 'det', 'cascade-mask-rcnn': 'det', 'upernet': 'seg', 'fcmae': 'image',
         'finetune': 'image'}
# compiled rows run in this order after the eager ones (the quickest to compile first); FCMAE's
# encoder is sparse and stays eager
COMPILABLE = ('finetune', 'upernet', 'mask-rcnn', 'cascade-mask-rcnn')
OBJECTS_PER_IMAGE = 8   # COCO train2017 averages 7.3 instances per image


class ConfigMissing(Exception):
    """The run's config file does not exist (yet)."""


def config_path(run, size):
    pattern = osp.join(REPO_ROOT, CONFIGS[run].format(size=size))
    found = sorted(glob.glob(pattern))
    if len(found) != 1:
        raise ConfigMissing(f'config missing: {osp.relpath(pattern, REPO_ROOT)}'
                            + (f' matches {len(found)} files' if found else ''))
    return found[0]


@dataclass
class Job:
    model: torch.nn.Module
    optim_wrapper: object
    make_batch: object          # () -> one data batch as a dataloader would give it
    dtype: str                  # what the optim wrapper computes in
    config: str
    ema: object = None
    notes: list = field(default_factory=list)

    def step(self, batch, model=None):
        """One training iteration; ``model`` is the DDP-wrapped one where there is one."""
        log_vars = (model or self.model).train_step(batch, self.optim_wrapper)
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return log_vars['loss']


def load_config(run, size, resolution, compile_options, cuda, rois=None):
    """The run's config with only the check's changes applied (``rois``: RoIs sampled per image
    by each R-CNN stage instead of the config's 512, for small CPU checks)."""
    from mmengine.config import Config

    from engine.launch import fit_to_machine, use_amp
    path = config_path(run, size)
    cfg = Config.fromfile(path)
    task = TASKS[run]
    if task in ('det', 'seg'):
        cfg.model.backbone.init_cfg = None
        if compile_options is not None:
            cfg.model.backbone.compile = compile_options
        if task == 'det':   # LSJ crops padded to one fixed size (the base file's 1024)
            for augment in cfg.model.data_preprocessor.get('batch_augments') or []:
                if augment.get('type') == 'BatchFixedSizePad':
                    augment.size = (resolution, resolution)
            stages = cfg.model.train_cfg.rcnn
            for stage in (stages if isinstance(stages, (list, tuple)) else [stages]):
                stage.sampler.num = stage.sampler.num if rois is None else rois
        else:
            cfg.model.data_preprocessor.size = (resolution, resolution)
    elif run == 'finetune':
        from finetune.recipe import apply_recipe
        cfg.recipe.pretrained = None
        cfg.recipe.img_size = resolution
        apply_recipe(cfg)
        if compile_options is not None:
            cfg.model.compile = compile_options
        if cuda:
            use_amp(cfg, 'bfloat16')   # the finetune configs train in fp32 unless --amp
    if not cuda:
        fit_to_machine(cfg)            # fp32 OptimWrapper instead of the config's AMP
    cfg.optim_wrapper.accumulative_counts = 1
    return path, cfg


def wrapper_dtype(cfg):
    wrapper = cfg.optim_wrapper
    if wrapper.get('type') != 'AmpOptimWrapper':
        return 'fp32'
    return {'float16': 'fp16', 'bfloat16': 'bf16'}.get(str(wrapper.get('dtype', 'float16')),
                                                         str(wrapper.get('dtype')))


def build_job(run, size, device, resolution, batch, compile_options=None, seed=0, rois=None):
    """Model, optim wrapper, EMA and batch maker of ``run`` at this size, on ``device``."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS, init_default_scope

    import backbones  # noqa: F401  (registers ConvNeXtV2 and the layer-decay constructor)
    cuda = str(device).startswith('cuda')
    path, cfg = load_config(run, size, resolution, compile_options, cuda, rois)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    if run == 'finetune':
        import finetune  # noqa: F401  (registers the classifier and its data preprocessor)
    elif run == 'fcmae':
        import pretrain  # noqa: F401
    # as the Runner would (engine env_cfg): cuDNN autotuning where the config asks for it
    torch.backends.cudnn.benchmark = bool(cfg.get('env_cfg', {}).get('cudnn_benchmark', False))
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model = model.to(device).train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    job = Job(model, optim_wrapper, batch_maker(run, batch, resolution, device, cfg),
              wrapper_dtype(cfg), osp.relpath(path, REPO_ROOT))
    if rois is not None and TASKS[run] == 'det':
        job.notes.append(f'{rois} RoIs per image')
    if run == 'finetune':
        job.ema = build_ema(cfg, model)
        job.notes.append(f'mixup {cfg.recipe.mixup} / cutmix {cfg.recipe.cutmix}, '
                         f'EMA {"on" if job.ema is not None else "off"}')
    return job


def build_ema(cfg, model):
    """The EMA model of the config's ``EMAHook`` (what the hook builds in ``before_run``)."""
    from mmengine.registry import MODELS
    hooks = [h for h in cfg.get('custom_hooks', []) if h.get('type') == 'EMAHook']
    if not hooks:
        return None
    settings = {k: v for k, v in hooks[0].items() if k not in ('type', 'ema_type', 'strict_load',
                                                                 'begin_iter', 'begin_epoch', 'priority')}
    settings['type'] = hooks[0].get('ema_type', 'ExponentialMovingAverage')
    return MODELS.build(settings, default_args=dict(model=model))


def batch_maker(run, batch, resolution, device, cfg):
    task = TASKS[run]
    if task == 'det':
        return lambda: det_batch(batch, resolution, device)
    if task == 'seg':
        classes = cfg.model.decode_head.num_classes
        return lambda: seg_batch(batch, resolution, device, classes)
    classes = cfg.recipe.num_classes if run == 'finetune' else None
    return lambda: image_batch(batch, resolution, device, classes)


def det_batch(batch, resolution, device, objects=OBJECTS_PER_IMAGE):
    """COCO-like LSJ crops: RESOLUTION x RESOLUTION images with boxes and instance masks."""
    from mmdet.testing import demo_mm_inputs
    return demo_mm_inputs(batch, image_shapes=[(3, resolution, resolution)] * batch,
                          num_items=[objects] * batch, num_classes=80, with_mask=True,
                          device=str(device))


def seg_batch(batch, resolution, device, classes):
    """ADE-like crops: images and label maps (values 0..classes-1, some 255 = ignore)."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(batch):
        labels = torch.randint(0, classes, (1, resolution, resolution))
        labels[:, :resolution // 8] = 255
        sample = SegDataSample(gt_sem_seg=PixelData(data=labels.to(device)))
        shape = (resolution, resolution)
        sample.set_metainfo(dict(img_shape=shape, ori_shape=shape, pad_shape=shape))
        samples.append(sample)
    inputs = [torch.randint(0, 256, (3, resolution, resolution), dtype=torch.uint8).to(device)
              for _ in range(batch)]
    return dict(inputs=inputs, data_samples=samples)


def image_batch(batch, resolution, device, classes=None):
    """ImageNet-like RESOLUTION x RESOLUTION crops (uint8), with class indices for the finetune."""
    data = dict(inputs=torch.randint(0, 256, (batch, 3, resolution, resolution),
                                     dtype=torch.uint8).to(device))
    if classes is not None:
        data['data_samples'] = torch.randint(0, classes, (batch,)).to(device)
    return data


def poison_loss(model):
    """``--inject-nan``: the total loss this model returns becomes NaN (a broken run)."""
    parse = model.parse_losses

    def poisoned(losses):
        loss, log_vars = parse(losses)
        loss = loss * float('nan')
        log_vars['loss'] = loss.detach()
        return loss, log_vars
    model.parse_losses = poisoned
