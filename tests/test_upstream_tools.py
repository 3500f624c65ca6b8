"""The OpenMMLab contract as users exercise it: the ``tools/train.py`` and ``tools/test.py`` that ship
inside the mmdet and mmseg wheels (``site-packages/<pkg>/.mim/tools/``, found from the installed
package and never copied here), run as a user runs them (``PYTHONPATH`` = this repository), on

* our det and seg toy configs (fp32 as written: mmdet's train.py asserts a GPU for AMP);
* a user config inheriting ``mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py`` whose
  backbone is the mmdetection ConvNeXt-V2 project's block with only ``type`` changed (``arch``
  atto for the CPU, its ``init_cfg`` a local ``backbone.``-prefixed file);
* a user config inheriting ``mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py`` as mmseg ships
  it: its ``model.pretrained`` is kept and pointed at a ConvNeXt V2 file, as ConvNeXt V1's README
  tells users (``--cfg-options model.pretrained=<ckpt>``), and mmseg hands it to the backbone;

a few iterations each on one synthetic COCO and one synthetic ADE20K set, and 24 for our toy Cascade
(its losses fall), all at once, one thread each; then mmdet's ``test.py`` evaluates the det toy's
checkpoint with the COCO evaluator.
"""
import importlib.util
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

from backbones import ConvNeXtV2
from downstream.synthetic_ade20k import make_synthetic_ade20k
from downstream.synthetic_coco import make_synthetic_coco
from engine.launch import REPO_ROOT
from reports.quickstart import TOY_CONFIG as DET_TOY
from reports.quickstart import data_options

SEG_TOY = osp.join(REPO_ROOT, 'seg_configs', 'upernet_convnextv2-atto_toy-synthetic-ade20k.py')
CASCADE_TOY = osp.join(REPO_ROOT, 'det_configs', 'cascade-mask-rcnn_convnextv2-atto_fpn_synthetic-coco.py')
TIMEOUT = 600
NO_VAL = ['val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']

# mmdetection projects/ConvNeXt-V2/configs/mask-rcnn_convnext-v2-b_fpn_lsj-3x-fcmae_coco.py's
# backbone, 'mmpretrain.ConvNeXt' -> 'ConvNeXtV2' (and base -> atto, its file -> a local one)
USER_CASCADE = """_base_ = 'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['backbones'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,
        type='ConvNeXtV2',
        arch='atto',
        out_indices=[0, 1, 2, 3],
        drop_path_rate=0.4,
        layer_scale_init_value=0.,
        gap_before_final_norm=False,
        use_grn=True,
        init_cfg=dict(type='Pretrained', checkpoint={checkpoint!r}, prefix='backbone.')),
    neck=dict(in_channels=[40, 80, 160, 320]))
data_root = {root!r}
metainfo = dict(classes=('circle', 'square', 'triangle', 'ring'))
train_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, metainfo=metainfo))
"""
USER_UPERNET = """_base_ = 'mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py'
custom_imports = dict(imports=['backbones'], allow_failed_imports=False)
model = dict(
    pretrained={checkpoint!r},
    backbone=dict(_delete_=True, type='ConvNeXtV2', arch='atto', out_indices=(0, 1, 2, 3)),
    decode_head=dict(in_channels=[40, 80, 160, 320]),
    auxiliary_head=dict(in_channels=160))
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root={root!r}))
"""


def wheel_tool(package, name):
    """``<package>/.mim/tools/<name>`` of the installed wheel."""
    spec = importlib.util.find_spec(package)
    assert spec is not None, f'{package} is not installed'
    path = osp.join(osp.dirname(spec.origin), '.mim', 'tools', name)
    assert osp.isfile(path), f'{package} has no {name} under .mim/tools (not a wheel install?)'
    return path


class Started:
    """The wheel's tool started as a user would (one thread, this repository on PYTHONPATH);
    ``finish()`` gives (exit code, output), killing it after TIMEOUT seconds."""

    def __init__(self, package, tool, *args, log):
        path = os.pathsep.join(p for p in (REPO_ROOT, os.environ.get('PYTHONPATH')) if p)
        env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=path)
        self.log = log
        with open(log, 'w') as out:
            self.process = subprocess.Popen(
                [sys.executable, wheel_tool(package, tool), *map(str, args)],
                cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def finish(self):
        try:
            code = self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=60)
            code = 'timeout'
        with open(self.log) as f:
            return code, f.read()


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """Train the five configs at once; {name: (exit code, output, work dir)}."""
    tmp = tmp_path_factory.mktemp('upstream')
    coco = str(tmp / 'coco')
    make_synthetic_coco(coco, num_train=8, num_val=4, image_size=128)
    ade = make_synthetic_ade20k(str(tmp / 'ade'), num_train=8, num_val=2)   # its data root
    torch.manual_seed(0)
    weights = ConvNeXtV2('atto').state_dict()
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in weights.items()}}, tmp / 'det_init.pth')
    torch.save(weights, tmp / 'seg_init.pth')
    (tmp / 'user_cascade.py').write_text(USER_CASCADE.format(
        checkpoint=str(tmp / 'det_init.pth'), root=coco.rstrip('/') + '/'))
    (tmp / 'user_upernet.py').write_text(USER_UPERNET.format(
        checkpoint=str(tmp / 'seg_init.pth'), root=ade))

    seg_root = [f'{loader}.dataset.data_root={ade}'
                for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    jobs = {
        'det_toy': ('mmdet', DET_TOY, [*data_options(coco), 'train_cfg.max_epochs=1',
                                       'train_dataloader.dataset.indices=8', *NO_VAL]),
        'user_cascade': ('mmdet', tmp / 'user_cascade.py', [
            'train_cfg.max_epochs=1', 'train_dataloader.dataset.indices=2', *NO_VAL,
            # 128 px images: train at 256 instead of the base's 1333x800
            'train_dataloader.dataset.pipeline.2.scale=(256,256)']),
        # the toy Cascade learns: 24 iterations (8 images, batch 2, 6 epochs; before the lr steps)
        'cascade_toy': ('mmdet', CASCADE_TOY, [*data_options(coco), 'train_cfg.max_epochs=6',
                                               'train_dataloader.batch_size=2', *NO_VAL]),
        'seg_toy': ('mmseg', SEG_TOY, [*seg_root, 'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
                                       'default_hooks.checkpoint.interval=3',
                                       *[f'{loader}.{key}' for loader in ('train_dataloader', 'val_dataloader')
                                         for key in ('num_workers=0', 'persistent_workers=False')]]),
        'user_upernet': ('mmseg', tmp / 'user_upernet.py', [
            'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2', *NO_VAL,
            # 96x128 images: 128 px crops instead of the base's 512 (the model is the same)
            'train_dataloader.dataset.pipeline.2.scale=(256,128)',
            'train_dataloader.dataset.pipeline.3.crop_size=(128,128)',
            'model.data_preprocessor.size=(128,128)']),
    }
    started = {}
    for name, (package, config, options) in jobs.items():
        work_dir, log = tmp / name, tmp / f'{name}.log'
        started[name] = (Started(package, 'train.py', config, '--work-dir', work_dir,
                                 '--cfg-options', 'randomness.seed=0', *options, log=log), work_dir)
    results = {name: (*tool.finish(), work_dir) for name, (tool, work_dir) in started.items()}
    results['coco'] = coco
    return results


def assert_trained(runs, name, checkpoint):
    code, output, work_dir = runs[name]
    assert code == 0, f'{name}: exit {code}\n{output[-4000:]}'
    assert osp.isfile(osp.join(work_dir, checkpoint)), f'{name}: no {checkpoint}\n{output[-2000:]}'
    return output


def test_mmdet_train_runs_the_det_toy_config(runs):
    output = assert_trained(runs, 'det_toy', 'epoch_1.pth')
    assert "type='OptimWrapper'" in output and 'AmpOptimWrapper' not in output   # fp32 as written


def test_mmdet_train_runs_a_user_cascade_config_with_the_project_backbone(runs):
    output = assert_trained(runs, 'user_cascade', 'epoch_1.pth')
    assert 'ConvNeXt V2: loaded' in output and 'layout = ' in output   # the project's init_cfg
    assert re.search(r'loss_bbox: [0-9.]+', output) and 's2.loss_bbox' in output  # three stages


def logged_losses(output):
    """{loss name: [value at each logged step]} of an mmengine training log."""
    losses = {}
    for line in output.splitlines():
        if 'Epoch(train)' in line:
            for name, value in re.findall(r'\s(\S*loss\S*): ([0-9.]+)', line):
                losses.setdefault(name, []).append(float(value))
    return losses


def test_mmdet_train_runs_the_cascade_toy_and_its_losses_fall(runs):
    """Too slow for an AP check here (80 iterations, 127 CPU-s, reached box AP 0.015 / AP50 0.059,
    mask 0.009 / 0.033 from 0.000 untrained, seed 0): 24 iterations whose classification and mask
    losses fall at every stage. The heads' SyncBN runs as BN in this one process. (The box loss is
    no signal this early: it grows with the number of positive RoIs as the RPN improves.)"""
    losses = logged_losses(assert_trained(runs, 'cascade_toy', 'epoch_6.pth'))
    assert len(losses['loss']) == 6, losses   # logged at the end of each epoch
    for stage in ('s0', 's1', 's2'):
        for loss in ('loss_cls', 'loss_mask'):
            first, last = losses[f'{stage}.{loss}'][0], losses[f'{stage}.{loss}'][-1]
            assert last < first, f'{stage}.{loss}: {first} -> {last}'
    classification = [sum(losses[f's{i}.loss_cls'][step] for i in range(3)) for step in (0, -1)]
    assert classification[1] < 0.75 * classification[0], classification


def test_mmseg_train_runs_the_seg_toy_config(runs):
    output = assert_trained(runs, 'seg_toy', 'iter_3.pth')
    assert 'mIoU' in output   # validated at the end of the run


def test_mmseg_train_runs_a_user_upernet_config_with_its_pretrained(runs):
    output = assert_trained(runs, 'user_upernet', 'iter_2.pth')
    assert 'ConvNeXt V2: loaded' in output and 'seg_init.pth' in output   # model.pretrained arrived


def test_mmdet_test_evaluates_a_checkpoint_of_the_wheels_train(runs, tmp_path):
    _, _, work_dir = runs['det_toy']
    log = tmp_path / 'test.log'
    code, output = Started('mmdet', 'test.py', DET_TOY, osp.join(work_dir, 'epoch_1.pth'),
                           '--work-dir', tmp_path / 'test', '--cfg-options',
                           *data_options(runs['coco']), log=log).finish()
    assert code == 0, output[-4000:]
    assert 'Evaluating bbox...' in output and 'Evaluating segm...' in output
    assert re.search(r'coco/bbox_mAP: [0-9.]+', output) and re.search(r'coco/segm_mAP: [0-9.]+', output)
