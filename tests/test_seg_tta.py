"""``tools/test.py --tta`` really runs the multi-scale + flip test, and what it predicts is the
average of the views' class probabilities (mmseg's SegTTAModel) recomputed here by hand; a config
without TTA is refused in one line."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from downstream.seg_pipelines import PAPER_TTA_RATIOS
from downstream.synthetic_ade20k import make_synthetic_ade20k

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOY_CONFIG = osp.join(REPO, 'seg_configs', 'upernet_convnextv2-atto_toy-synthetic-ade20k.py')
DET_CONFIG = osp.join(REPO, 'det_configs', 'mask-rcnn_convnextv2-atto_fpn_synthetic-coco.py')


@pytest.fixture(scope='module')
def one_thread():
    """On a shared 2-core machine two OpenMP threads per process run several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def tta_setup(tmp_path_factory, one_thread):
    """The toy config after ``use_tta`` (what --tta does), its model and one image's views."""
    import backbones  # noqa: F401
    from mmseg.registry import DATASETS, MODELS
    from tools.test import use_tta
    root = make_synthetic_ade20k(str(tmp_path_factory.mktemp('ade')), num_train=1, num_val=1)
    cfg = Config.fromfile(TOY_CONFIG)
    init_default_scope('mmseg')
    cfg.test_dataloader.dataset.data_root = root
    single_pipeline = cfg.test_dataloader.dataset.pipeline
    single_dataset = DATASETS.build(cfg.test_dataloader.dataset)
    use_tta(cfg, TOY_CONFIG)
    torch.manual_seed(0)
    tta_model = MODELS.build(cfg.model).eval()
    tta_model.module.init_weights()
    views = pseudo_collate([DATASETS.build(cfg.test_dataloader.dataset)[0]])
    assert single_pipeline != cfg.test_dataloader.dataset.pipeline
    return tta_model, views, pseudo_collate([single_dataset[0]])


def test_tta_views_are_five_scales_times_flip(tta_setup):
    _, views, _ = tta_setup
    inputs, samples = views['inputs'], views['data_samples']
    assert len(inputs) == 2 * len(PAPER_TTA_RATIOS) == 10
    assert len({tuple(v[0].shape[1:]) for v in inputs}) == len(PAPER_TTA_RATIOS)
    flips = [s[0].flip for s in samples]
    assert flips.count(True) == flips.count(False) == len(PAPER_TTA_RATIOS)
    for view, sample in zip(inputs, samples):   # each flipped view is its scale's image mirrored
        if sample[0].flip:
            twin = next(v for v, s in zip(inputs, samples)
                        if not s[0].flip and v[0].shape == view[0].shape)
            assert torch.equal(view[0], twin[0].flip(-1))


def test_tta_prediction_is_the_average_of_the_views_and_differs_from_single_scale(tta_setup):
    tta_model, views, single = tta_setup
    per_view = []
    run_view = tta_model.module.test_step

    def recording_test_step(data):   # what the segmentor returns for each view, as TTA runs it
        results = run_view(data)
        per_view.append(results[0].seg_logits.data.clone())
        return results
    tta_model.module.test_step = recording_test_step
    try:
        with torch.no_grad():
            merged = tta_model.test_step(views)[0].pred_sem_seg.data
    finally:
        del tta_model.module.test_step
    with torch.no_grad():
        single_pred = run_view(single)[0].pred_sem_seg.data
    assert len(per_view) == len(views['inputs'])
    # by hand: each view's logits (flipped back, resized to the image) -> softmax -> mean -> argmax
    assert len({p.shape for p in per_view}) == 1
    probabilities = torch.stack([logits.softmax(dim=0) for logits in per_view]).mean(0)
    by_hand = probabilities.argmax(dim=0, keepdim=True)
    assert merged.shape == by_hand.shape == single_pred.shape
    assert torch.equal(merged, by_hand)
    changed = (merged != single_pred).float().mean().item()
    assert changed > 0.01, f'--tta changed only {changed:.2%} of the single-scale prediction'


def test_tta_on_a_config_without_tta_fails_in_one_line(capsys):
    from tools.test import use_tta
    with pytest.raises(SystemExit) as exit_info:
        use_tta(Config.fromfile(DET_CONFIG), DET_CONFIG)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (f'error: --tta: {DET_CONFIG} defines no tta_model and no tta_pipeline; it has no '
                   'test-time augmentation to run')
