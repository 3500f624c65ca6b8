"""The paper's feature analyses (Figures 3, 4, 7): the numbers against constructed inputs and float64
references, the hooks against a hand-run block, checkpoints of every layout, the tool's outputs."""
import csv
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from analysis.checkpoints import backbone_from_checkpoint
from analysis.cosine_distance import channel_cosine_distance
from analysis.features import capture
from analysis.images import eval_transform, list_images
from analysis.selectivity import ClassMeanMeter, density, selectivity_index
from backbones.checkpoints import CheckpointError
from backbones.checkpoints.layouts import to_dense_fcmae, to_timm
from finetune.synthetic import make_dataset
from tests.helpers import random_backbone

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def reference_distance(activation):
    """The paper's formula in float64, written out: (H, W, C) -> 1/C^2 sum_ij (1 - cos_ij) / 2."""
    x = np.asarray(activation, dtype=np.float64).reshape(-1, activation.shape[-1])
    channels = x.shape[1]
    norms = np.sqrt((x * x).sum(axis=0))
    total = 0.0
    for i in range(channels):
        cosines = (x[:, i:i + 1] * x).sum(axis=0) / (norms[i] * norms)
        total += ((1.0 - cosines) / 2.0).sum()
    return total / channels ** 2


# -- cosine distance ------------------------------------------------------------------------------
def test_identical_channels_have_distance_zero():
    pattern = torch.rand(3, 6, 5, 1, dtype=torch.float64) + 0.1
    features = pattern * torch.linspace(0.5, 4.0, 24, dtype=torch.float64)   # same direction
    assert torch.allclose(channel_cosine_distance(features), torch.zeros(3, dtype=torch.float64),
                          atol=1e-12)


@pytest.mark.parametrize('channels', [2, 7, 48])
def test_channels_of_disjoint_support_give_half_of_one_minus_one_over_c(channels):
    features = torch.zeros(2, channels, 4, channels, dtype=torch.float64)
    for c in range(channels):   # channel c lives on row c only: every pair is orthogonal
        features[:, c, :, c] = torch.rand(2, 4, dtype=torch.float64) + 0.1
    expected = (1 - 1 / channels) / 2    # the diagonal (cos = 1) counts in the 1/C^2 average
    assert torch.allclose(channel_cosine_distance(features),
                          torch.full((2,), expected, dtype=torch.float64), atol=1e-12)


def test_gaussian_channels_come_close_to_the_orthogonal_value():
    torch.manual_seed(0)
    channels = 256
    distance = channel_cosine_distance(torch.randn(4, 32, 32, channels))
    assert torch.allclose(distance, torch.full((4,), (1 - 1 / channels) / 2), atol=2e-3)


def test_distance_matches_the_written_out_formula_on_a_small_case():
    torch.manual_seed(1)
    features = torch.randn(2, 3, 4, 9, dtype=torch.float64).abs() * torch.rand(9, dtype=torch.float64)
    for n in range(2):
        assert channel_cosine_distance(features)[n].item() == pytest.approx(
            reference_distance(features[n].numpy()), abs=1e-12)


def test_captured_expansion_features_and_their_distance_match_a_float64_hand_run():
    """The hooks tap pwconv1 -> GELU (before GRN) and GRN's output of the block named; the
    distance of those float32 features agrees with the float64 formula."""
    model = random_backbone('atto', seed=3, norm_out=False)
    images = torch.randn(2, 3, 64, 64)
    gelu = capture(model, images, 'stages.1.1', 'gelu')
    grn = capture(model, images, 'stages.1.1', 'grn')
    assert gelu.shape == grn.shape == (2, 8, 8, 320) and gelu.dtype == torch.float32

    double = random_backbone('atto', seed=3, norm_out=False).double()
    with torch.no_grad():
        x = double.downsample_layers[0](images.double())
        for block in double.stages[0]:
            x = block(x)
        x = double.stages[1][0](double.downsample_layers[1](x))
        block = double.stages[1][1]
        hidden = block.norm(block.dwconv(x).permute(0, 2, 3, 1))
        expected_gelu = F.gelu(hidden @ block.pwconv1.weight.T + block.pwconv1.bias)
        norm = expected_gelu.pow(2).sum(dim=(1, 2), keepdim=True).sqrt()
        expected_grn = (block.grn.gamma * expected_gelu * (norm / (norm.mean(-1, keepdim=True) + 1e-6))
                        + block.grn.beta + expected_gelu)
    assert torch.allclose(gelu.double(), expected_gelu, atol=1e-4)
    assert torch.allclose(grn.double(), expected_grn, atol=1e-4)
    assert not torch.allclose(expected_gelu, expected_grn, atol=1e-2)   # GRN is not identity here
    for ours, reference in ((gelu, expected_gelu), (grn, expected_grn)):
        for n in range(2):
            assert channel_cosine_distance(ours)[n].item() == pytest.approx(
                reference_distance(reference[n].numpy()), abs=1e-5)


# -- class selectivity ----------------------------------------------------------------------------
def test_selectivity_index_on_constructed_class_means():
    means = torch.zeros(5, 4, dtype=torch.float64)
    means[2, 0] = 3.0                       # one class active
    means[:, 1] = 2.0                       # all classes alike
    means[:, 2] = torch.tensor([3.0, 1, 1, 1, 1])   # (3 - 1) / (3 + 1)
    # channel 3: silent on every class
    index = selectivity_index(means)
    assert index[:3].tolist() == pytest.approx([1.0, 0.0, 0.5])
    assert torch.isnan(index[3])


def test_class_means_come_from_rectified_spatial_means_per_class():
    features = torch.zeros(6, 2, 2, 3)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    features[labels == 1, :, :, 0] = 2.0    # channel 0: class 1 only
    features[:, :, :, 1] = 1.0              # channel 1: every class
    features[:, 0, 0, 2] = -5.0             # channel 2: negative (rectified away) ...
    features[labels == 0, 1, 1, 2] = 4.0    # ... plus 1.0 spatial mean on class 0
    meter = ClassMeanMeter(num_classes=3)
    meter.update('stages.0.0', 'block', features[:4], labels[:4])   # two batches
    meter.update('stages.0.0', 'block', features[4:], labels[4:])
    index = meter.indices()['stages.0.0', 'block']
    assert index.tolist() == pytest.approx([1.0, 0.0, 1.0])


def test_density_integrates_to_one_over_the_index_range():
    grid = torch.linspace(0, 1, 401, dtype=torch.float64)
    values = torch.cat([torch.rand(500, dtype=torch.float64) * 0.2, torch.tensor([float('nan')])])
    curve = density(values, grid)
    assert torch.trapezoid(curve, grid).item() == pytest.approx(1.0, abs=1e-2)
    assert curve[:80].mean() > 5 * curve[200:].mean()   # the mass sits where the values are


# -- checkpoints ------------------------------------------------------------------------------------
def layouts(state_dict):
    backbone = {k: v for k, v in state_dict.items() if not k.startswith('norm')}
    return {
        'plain state dict': backbone,
        'official {model: ...}': {'model': backbone, 'epoch': 3},
        'mmdet detector': {'meta': {}, 'state_dict': {
            **{f'backbone.{k}': v for k, v in backbone.items()},
            'neck.lateral_convs.0.conv.weight': torch.zeros(1)}},
        'timm': to_timm(backbone),
        'dense FCMAE': {'model': {**to_dense_fcmae(backbone), 'mask_token': torch.zeros(1, 512, 1, 1)}},
        'DDP module.': {'state_dict': {f'module.{k}': v for k, v in backbone.items()}},
    }


@pytest.mark.parametrize('layout', list(layouts({})))
def test_every_layout_loads_the_same_backbone(layout, tmp_path):
    source = random_backbone('femto', seed=5, norm_out=False)
    path = str(tmp_path / 'ckpt.pth')
    torch.save(layouts(source.state_dict())[layout], path)
    model, description = backbone_from_checkpoint(path)
    assert 'femto' in description
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(images)[-1], source(images)[-1])


@pytest.mark.parametrize('content', [b'not a checkpoint', None])
def test_a_wrong_file_gives_the_loaders_one_line_error(content, imagenet, tmp_path, capsys):
    from tools import analyze_features
    path = tmp_path / 'wrong.pth'
    if content is None:
        torch.save({'state_dict': {'conv1.weight': torch.zeros(2)}}, str(path))   # not ConvNeXt V2
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError):
        backbone_from_checkpoint(str(path))
    with pytest.raises(SystemExit) as exit_info:
        analyze_features.main([str(path), '--images', imagenet,
                               '--out', str(tmp_path / 'out')])
    assert exit_info.value.code != 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('error: ') and 'wrong.pth' in lines[0], lines
    assert not (tmp_path / 'out').exists()


# -- the tool ---------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def imagenet(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('imagenet'))
    make_dataset(root, num_classes=4, train_per_class=1, val_per_class=3, size=64)
    return os.path.join(root, 'val')


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_tool_writes_the_three_analyses_for_two_checkpoints(imagenet, tmp_path):
    from tools import analyze_features
    first = random_backbone('atto', seed=1, norm_out=False)
    second = random_backbone('atto', seed=2, norm_out=False)
    torch.save(first.state_dict(), str(tmp_path / 'plain.pth'))
    torch.save(to_timm(second.state_dict()), str(tmp_path / 'timm.pth'))
    out = tmp_path / 'out'
    analyze_features.main([str(tmp_path / 'plain.pth'), str(tmp_path / 'timm.pth'),
                           '--images', imagenet, '--out', str(out), '--size', '64',
                           '--batch-size', '5', '--num-images', '12', '--device', 'cpu'])
    for name in ('cosine_distance.png', 'activation_maps.png', 'selectivity.png'):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 2000, name

    rows = read_csv(out / 'cosine_distance.csv')
    assert len(rows) == 2 * 12 * 2   # checkpoints x atto's blocks x (gelu, grn)
    assert {r['checkpoint'] for r in rows} == {'plain', 'timm'}
    normalised = sorted({float(r['normalised_index']) for r in rows})
    assert normalised[0] == 0.0 and normalised[-1] == 1.0 and len(normalised) == 12

    # float64 reference of one layer over the same 12 images (3 of each of the 4 classes)
    _, samples = list_images(imagenet)
    assert len(samples) == 12
    from PIL import Image
    images = torch.stack([eval_transform(64)(Image.open(p).convert('RGB')) for p, _ in samples])
    features = capture(second, images, 'stages.2.4', 'grn')
    expected = np.mean([reference_distance(f.numpy()) for f in features])
    found = [float(r['distance']) for r in rows
             if r['checkpoint'] == 'timm' and r['layer'] == 'stages.2.4' and r['tap'] == 'grn']
    assert found == [pytest.approx(expected, abs=1e-5)]

    selectivity = read_csv(out / 'selectivity.csv')
    channels_per_checkpoint = 2 * 40 + 2 * 80 + 6 * 160 + 2 * 320
    assert len(selectivity) == 2 * channels_per_checkpoint
    values = [float(r['selectivity_index']) for r in selectivity if r['selectivity_index']]
    assert values and all(0.0 <= v <= 1.0 for v in values)


def test_flat_folder_runs_without_selectivity(imagenet, tmp_path, capsys):
    from analysis.run import Options, analyze
    flat = tmp_path / 'flat'
    flat.mkdir()
    _, samples = list_images(imagenet)
    for path, _ in samples[:3]:
        (flat / os.path.basename(path)).write_bytes(open(path, 'rb').read())
    torch.save(random_backbone('atto', norm_out=False).state_dict(), str(tmp_path / 'a.pth'))
    messages = []
    results = analyze([str(tmp_path / 'a.pth')],
                      Options(images=str(flat), out_dir=str(tmp_path / 'out'), size=32),
                      log=messages.append)
    assert any('selectivity skipped' in m for m in messages)
    assert sorted(os.path.basename(f) for f in results['files']) == \
        ['activation_maps.png', 'cosine_distance.csv', 'cosine_distance.png']


def test_fp16_on_cpu_is_refused_in_one_line(imagenet, tmp_path, capsys):
    from tools import analyze_features
    torch.save(random_backbone('atto', norm_out=False).state_dict(), str(tmp_path / 'a.pth'))
    with pytest.raises(SystemExit):
        analyze_features.main([str(tmp_path / 'a.pth'), '--images', imagenet, '--device', 'cpu',
                               '--dtype', 'fp16', '--out', str(tmp_path / 'out')])
    assert 'fp16 needs a GPU' in capsys.readouterr().err
