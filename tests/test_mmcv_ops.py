"""tools/install.sh builds mmcv with only the compiled ops the toolkit calls (tools/build_mmcv.py's
OPS table). Here every det/seg config's model (one per distinct model: the sizes share their heads),
FCMAE and the finetune classifier run a training step (forward + backward), a test step (Mask R-CNN
/ Cascade test_cfg with soft-NMS / NMS; UperNet slide inference) and UperNet's multi-scale + flip
TTA, with every `mmcv._ext` function recorded and each one outside the list made to raise: the list
must cover them all, and each op in it must be used. A not-built op raises one line naming it and
the command that builds them all."""
import copy
import glob
import importlib
import os.path as osp
import subprocess
import sys
from contextlib import contextmanager

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ATTO_DIMS = [40, 80, 160, 320]
FULL_BUILD = 'CNV2_MMCV_OPS=all bash tools/install.sh'


def default_ops():
    """{op: [ext functions]} of the default build, as tools/build_mmcv.py --list prints it."""
    done = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'build_mmcv.py'), '--list'],
                          capture_output=True, text=True, timeout=60, check=True)
    return {line.split(':')[0]: line.split(':')[1].split() for line in done.stdout.splitlines()}


@contextmanager
def traced_ext(built):
    """Record every `mmcv._ext` function called; those not in ``built`` raise instead."""
    import mmcv.ops  # noqa: F401  (loads mmcv._ext)
    ext = importlib.import_module('mmcv._ext')
    originals = {name: getattr(ext, name) for name in dir(ext)
                 if not name.startswith('_') and callable(getattr(ext, name))}
    called = set()

    def traced(name, function):
        def call(*args, **kwargs):
            called.add(name)
            if name not in built:
                raise RuntimeError(f'mmcv._ext.{name} is not in the default build')
            return function(*args, **kwargs)
        return call

    for name, function in originals.items():
        setattr(ext, name, traced(name, function))
    try:
        yield called
    finally:
        for name, function in originals.items():
            setattr(ext, name, function)


def distinct_models(pattern, shrink):
    """One (config, model cfg) per distinct model among the configs: sizes differ only in the
    backbone and the channels it hands on, which ``shrink`` sets to atto's."""
    models = {}
    for path in sorted(glob.glob(osp.join(REPO, pattern))):
        model = copy.deepcopy(Config.fromfile(path).model)
        model.backbone.update(arch='atto', drop_path_rate=0.0, init_cfg=None)
        shrink(model)
        models.setdefault(repr(model.to_dict()), (osp.basename(path), model))
    return list(models.values())


def shrink_det(model):
    model.neck.in_channels = ATTO_DIMS
    model.data_preprocessor.batch_augments = None   # the 1024 px LSJ pad: plain torch
    # fewer proposals and RoIs (the toy configs' numbers): the same calls, a fraction of the time
    model.train_cfg.rpn_proposal.max_per_img = 100
    for rcnn in (model.train_cfg.rcnn if isinstance(model.train_cfg.rcnn, list)
                 else [model.train_cfg.rcnn]):
        rcnn.sampler.num = 64
    model.test_cfg.rpn.max_per_img = 100
    # an untrained head scores below 0.05: keep every box so that NMS and the mask head run
    model.test_cfg.rcnn.update(score_thr=0.0, max_per_img=20)


def shrink_seg(model):
    # narrower heads and small crops: the same calls at a fraction of the cost
    model.decode_head.update(in_channels=ATTO_DIMS, channels=32)
    model.auxiliary_head.update(in_channels=ATTO_DIMS[2], channels=16)
    model.data_preprocessor.size = (64, 64)
    model.test_cfg.update(crop_size=(64, 64), stride=(48, 48))


def run_det(model_cfg):
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    init_default_scope('mmdet')
    model = MODELS.build(model_cfg)
    num_classes = model_cfg.roi_head.get('bbox_head', {})
    num_classes = (num_classes[0] if isinstance(num_classes, list) else num_classes).num_classes
    torch.manual_seed(0)
    batch = demo_mm_inputs(batch_size=1, image_shapes=[(3, 128, 128)], num_items=[3],
                           num_classes=num_classes, with_mask=True)
    model.train()
    loss, _ = model.parse_losses(model(**model.data_preprocessor(batch, True), mode='loss'))
    loss.backward()
    model.eval()
    with torch.no_grad():
        results = model.test_step(batch)
    assert len(results[0].pred_instances) > 0   # boxes reached NMS and the mask head


def seg_sample(size, flip=False):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    sample = SegDataSample(metainfo=dict(img_path='x.jpg', img_shape=size, ori_shape=size,
                                         pad_shape=size, flip=flip,
                                         flip_direction='horizontal' if flip else None))
    sample.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, *size)))
    return sample


def run_seg(model_cfg):
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    model = MODELS.build(model_cfg)
    torch.manual_seed(0)
    image = torch.randint(0, 256, (3, 96, 96), dtype=torch.uint8)
    batch = dict(inputs=[image[:, :64, :64], image[:, -64:, -64:]],   # 2: BatchNorm in training
                 data_samples=[seg_sample((64, 64)), seg_sample((64, 64))])
    model.train()
    loss, _ = model.parse_losses(model(**model.data_preprocessor(batch, True), mode='loss'))
    loss.backward()
    model.eval()
    tta = MODELS.build(dict(type='SegTTAModel', module=model))
    views = dict(inputs=[[image], [image.flip(-1)], [image[:, :80, :80]]],
                 data_samples=[[seg_sample((96, 96))], [seg_sample((96, 96), flip=True)],
                               [seg_sample((80, 80))]])
    views['data_samples'][2][0].set_metainfo(dict(ori_shape=(96, 96)))
    with torch.no_grad():
        model.test_step(dict(inputs=[image], data_samples=[seg_sample((96, 96))]))   # slide
        tta.test_step(views)   # two scales, one flipped: the --tta path


def distinct_datasets(pattern, data_root, **update):
    """One dataset cfg per distinct train / val / TTA pipeline among the configs, on ``data_root``."""
    datasets = {}
    for path in sorted(glob.glob(osp.join(REPO, pattern))):
        cfg = Config.fromfile(path)
        pipelines = [cfg.train_dataloader.dataset.pipeline, cfg.val_dataloader.dataset.pipeline]
        pipelines += [cfg.tta_pipeline] if cfg.get('tta_pipeline') else []
        for stage, pipeline in zip(('train', 'val', 'tta'), pipelines):
            dataset = copy.deepcopy(cfg[f'{"train" if stage == "train" else "val"}_dataloader'].dataset)
            dataset.update(data_root=data_root, pipeline=pipeline, **update)
            datasets.setdefault(repr(pipeline), dataset)
    return list(datasets.values())


def run_pipelines(scope, datasets):
    """Load and transform one sample through each pipeline (what the dataloaders do)."""
    from mmengine.registry import DATASETS
    init_default_scope(scope)
    for dataset in datasets:
        DATASETS.build(dataset)[0]


def run_fcmae_and_classifier():
    from pretrain.fcmae import FCMAE
    from finetune.classifier import ConvNeXtV2Classifier
    FCMAE(arch='atto')(torch.randn(1, 3, 64, 64), mode='loss')['loss'].backward()
    classifier = ConvNeXtV2Classifier(arch='atto', num_classes=4)
    classifier(torch.randn(2, 3, 64, 64), torch.tensor([0, 1]), mode='loss')['loss'].backward()


@pytest.fixture(scope='module')
def traced(tmp_path_factory):
    """{case: ext functions it called} for every distinct model of the toolkit's configs."""
    import backbones  # noqa: F401  (registers ConvNeXtV2)
    ops = default_ops()
    built = {name for functions in ops.values() for name in functions}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cases = [(name, run_det, cfg) for name, cfg in distinct_models(
        'det_configs/*.py', shrink_det)]
    cases += [(name, run_seg, cfg) for name, cfg in distinct_models(
        'seg_configs/*.py', shrink_seg)]
    from downstream.synthetic_ade20k import make_synthetic_ade20k
    from downstream.synthetic_coco import CLASSES, make_synthetic_coco
    data = tmp_path_factory.mktemp('data')
    make_synthetic_coco(str(data / 'coco'), num_train=1, num_val=1, image_size=64)
    coco = distinct_datasets('det_configs/*.py', str(data / 'coco'), metainfo=dict(classes=CLASSES))
    ade = make_synthetic_ade20k(str(data / 'ade'), num_train=1, num_val=1, size=(64, 64))
    cases.append(('det data pipelines', lambda datasets: run_pipelines('mmdet', datasets), coco))
    cases.append(('seg data pipelines', lambda datasets: run_pipelines('mmseg', datasets),
                  distinct_datasets('seg_configs/*.py', ade)))
    calls = {}
    try:
        for name, run, cfg in cases:
            with traced_ext(built) as called:
                run(cfg)
            calls[name] = called
        with traced_ext(built) as called:
            run_fcmae_and_classifier()
        calls['FCMAE + classifier'] = called
    finally:
        torch.set_num_threads(threads)
    return ops, calls


def test_every_model_runs_on_the_default_ops_and_uses_each(traced):
    """Nothing raised above, so every call was in the list; and no op in it is dead weight."""
    ops, calls = traced
    kinds = {name.split('_')[0] for name in calls}
    assert {'mask-rcnn', 'cascade-mask-rcnn', 'upernet', 'FCMAE + classifier'} <= kinds, sorted(calls)
    used = set().union(*calls.values())
    assert {'nms', 'softnms', 'roi_align_forward', 'roi_align_backward'} <= used   # the tracer sees
    unused = [op for op, functions in ops.items() if op != 'info' and not used & set(functions)]
    assert not unused, f'{unused} are built but no config calls them'
    assert not calls['FCMAE + classifier']


def test_a_not_built_op_raises_one_line_with_the_full_build_command():
    import mmcv.ops  # noqa: F401
    ext = importlib.import_module('mmcv._ext')
    if not hasattr(ext, 'cnv2_op_set'):
        pytest.skip('mmcv here is a full build (CNV2_MMCV_OPS=all): every op is built')
    assert ext.cnv2_op_set() == 'default'
    from mmcv.ops import deform_conv2d
    with pytest.raises(RuntimeError) as err:
        deform_conv2d(torch.zeros(1, 1, 4, 4), torch.zeros(1, 18, 2, 2), torch.zeros(1, 1, 3, 3))
    message = str(err.value)
    assert '\n' not in message and 'deform_conv_forward' in message and FULL_BUILD in message
