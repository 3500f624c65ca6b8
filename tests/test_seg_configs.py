"""ADE20K UperNet configs (paper Appendix A.4, Table 7): recipes, model and pipeline builds."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from backbones import ARCHS
from backbones.checkpoints.released import released_url
from downstream.synthetic_ade20k import make_synthetic_ade20k

SEG_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'seg_configs')
PAPER_CONFIGS = sorted(glob.glob(osp.join(SEG_DIR, 'upernet_convnextv2-*_8xb2-amp-160k_ade20k-*.py')))
TOY_CONFIG = osp.join(SEG_DIR, 'upernet_convnextv2-atto_toy-synthetic-ade20k.py')
TTA_RATIOS = [0.75, 0.875, 1.0, 1.125, 1.25]  # A.4: multi-scale test ratios of 512x2048


def load(path):
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    return cfg


def size_of(path):
    return osp.basename(path).split('_')[1].split('-')[1]


def config_id(path):
    return osp.basename(path)[len('upernet_convnextv2-'):-3]


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    return make_synthetic_ade20k(str(tmp_path_factory.mktemp('ade')), num_train=2, num_val=1)


def test_every_size_has_a_config():
    sizes = {size_of(p) for p in PAPER_CONFIGS if p.endswith('512x512.py')}
    assert sizes == set(ARCHS)
    assert any(p.endswith('huge_8xb2-amp-160k_ade20k-640x640.py') for p in PAPER_CONFIGS)


@pytest.mark.parametrize('path', PAPER_CONFIGS, ids=config_id)
def test_recipe_follows_appendix_a4(path):
    cfg = load(path)
    size, crop = size_of(path), 640 if path.endswith('640x640.py') else 512
    dims = list(ARCHS[size]['dims'])
    model = cfg.model
    assert model.backbone.type == 'ConvNeXtV2' and model.backbone.arch == size
    assert model.decode_head.type == 'UPerHead' and model.auxiliary_head.type == 'FCNHead'
    assert list(model.decode_head.in_channels) == dims
    assert model.auxiliary_head.in_channels == dims[2] and model.auxiliary_head.in_index == 2
    assert model.decode_head.num_classes == model.auxiliary_head.num_classes == 150
    # A.4: the released IN-1K finetuned EMA weights of this size, by URL (Table 7's 640 row: the
    # IN-22K -> IN-1K ones; huge has them at 384 and 512)
    init = model.backbone.init_cfg
    expected = released_url(size, 'in22k_512' if crop == 640 else 'in1k')
    assert init.type == 'Pretrained' and init.checkpoint == expected

    # the sweeps of A.4 and the fixed part of the recipe
    assert model.backbone.drop_path_rate in (0.1, 0.2, 0.3, 0.4)
    wrapper = cfg.optim_wrapper
    assert wrapper.type == 'AmpOptimWrapper' and wrapper.dtype == 'bfloat16'
    assert wrapper.constructor == 'ConvNeXtV2LayerDecayOptimizerConstructor'
    assert wrapper.optimizer.type == 'AdamW' and wrapper.optimizer.weight_decay == 0.05
    assert wrapper.optimizer.lr in (1e-4, 2e-4, 3e-4)
    assert wrapper.paramwise_cfg.decay_rate in (0.8, 0.9)
    assert wrapper.paramwise_cfg.decay_type == 'group_wise'   # every size: docs/recipes.md
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 16

    # data: ADE20K layout, 150 classes with reduce_zero_label, crops, slide test, TTA of A.4
    dataset = cfg.train_dataloader.dataset
    assert dataset.type == 'CheckedADE20KDataset' and dataset.data_root.endswith('ADEChallengeData2016')
    assert dataset.data_prefix == dict(img_path='images/training', seg_map_path='annotations/training')
    steps = {t['type']: t for t in dataset.pipeline}
    # training loads with the skipping variants (unreadable files skipped and counted)
    assert steps['SafeLoadImageFromFile'] and steps['CheckSegMap']['skip_mismatched'] is True
    assert steps['SafeLoadSegAnnotations']['reduce_zero_label'] is True
    assert steps['RandomCrop']['crop_size'] == (crop, crop)
    assert model.test_cfg.mode == 'slide' and model.test_cfg.crop_size == (crop, crop)
    test_scale = (4 * crop, crop)
    assert {t['type']: t for t in cfg.test_dataloader.dataset.pipeline}['Resize']['scale'] == test_scale
    resizes, flips = cfg.tta_pipeline[1].transforms[:2]
    assert [r['scale'] for r in resizes] == [(int(test_scale[0] * r), int(test_scale[1] * r))
                                             for r in TTA_RATIOS]
    assert sorted(f['prob'] for f in flips) == [0.0, 1.0]
    assert cfg.tta_model.type == 'SegTTAModel'
    assert cfg.val_evaluator.iou_metrics == ['mIoU']


@pytest.mark.parametrize('path', PAPER_CONFIGS + [TOY_CONFIG], ids=config_id)
def test_config_builds_model_and_pipelines(path, synthetic_root):
    from mmseg.registry import DATASETS, MODELS
    cfg = load(path)
    with torch.device('meta'):  # shapes only: no memory, no weight files read
        model = MODELS.build(cfg.model)
    dims = ARCHS[size_of(path) if path != TOY_CONFIG else 'atto']['dims']
    assert tuple(model.backbone.dims) == tuple(dims)

    for loader, pipeline in (('train_dataloader', None), ('test_dataloader', None),
                             ('test_dataloader', cfg.tta_pipeline)):
        dataset_cfg = cfg[loader].dataset.copy()
        dataset_cfg.data_root = synthetic_root
        if pipeline is not None:
            dataset_cfg.pipeline = pipeline
        sample = DATASETS.build(dataset_cfg)[0]
        if pipeline is None:
            assert sample['inputs'].shape[0] == 3 and sample['data_samples'].gt_sem_seg is not None
        else:  # 5 scales x 2 flips
            assert len(sample['inputs']) == len(sample['data_samples']) == 10


@pytest.mark.parametrize('name, first_scale', [('atto', 0.9 ** 6), ('base', 0.9 ** 13)])
def test_layer_decay_reaches_the_segmentor(name, first_scale):
    """Group-wise ids (three blocks per id): atto 0..6 (stages 2/2/6/2), base 0..13; stem 0.

    The heads are outside the backbone and train at the full lr."""
    from mmengine.optim import build_optim_wrapper
    from mmseg.registry import MODELS
    cfg = load(osp.join(SEG_DIR, f'upernet_convnextv2-{name}_8xb2-amp-160k_ade20k-512x512.py'))
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    cfg.optim_wrapper.type = 'OptimWrapper'  # AmpOptimWrapper refuses to build without a GPU
    cfg.optim_wrapper.pop('dtype')
    cfg.optim_wrapper.pop('loss_scale')
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    scales = {name: group['lr_scale'] for group in wrapper.optimizer.param_groups
              for name in group['param_names']}
    assert scales['backbone.downsample_layers.0.0.weight'] == pytest.approx(first_scale)
    assert scales['decode_head.conv_seg.weight'] == pytest.approx(1.0)
    assert scales['auxiliary_head.conv_seg.weight'] == pytest.approx(1.0)


@pytest.fixture
def one_thread():
    """On a shared 2-core machine two OpenMP threads per process run several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_upernet_base_params_and_flops_match_table7(one_thread):
    """Table 7: UperNet ConvNeXt V2-B has 122M params and 1170G FLOPs at 2048x512 (within 3%).

    The FLOPs are traced at 512x128 (1/16 of the pixels) and multiplied by 16: every op of the
    model scales with the pixel count except the PPM's 1x1 convs on its fixed 1/2/3/6 grids (26M
    MACs, 0.002%). ``python tools/analyze_complexity.py <base config> --size 2048x512`` counts the
    full size directly: 1170.9G (this test's estimate: 1171.3G), but takes minutes on 2 CPU cores.
    """
    from downstream.complexity import PAPER, complexity
    table, paper_params, paper_flops = PAPER[('mmseg', 'base', (2048, 512))]
    assert table == 'Table 7' and (paper_params, paper_flops) == (122, 1170)
    info = complexity(load(osp.join(SEG_DIR, 'upernet_convnextv2-base_8xb2-amp-160k_ade20k-512x512.py')),
                      512, 128)
    assert info['params'] / 1e6 == pytest.approx(paper_params, rel=0.03)
    assert 16 * info['flops'] / 1e9 == pytest.approx(paper_flops, rel=0.03)
