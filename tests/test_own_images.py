"""Continuing FCMAE on one's own images (ConvNeXt-V2 #80, mmpretrain #1871): the encoder
initialised from every checkpoint layout exactly as the backbone loader does, a fresh decoder,
any channel count; the own-images folder reader, its statistics tool, the continue configs and
the one-line refusals before any work."""
import glob
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from backbones import ConvNeXtV2
from backbones.checkpoints import layouts as layout_module
from backbones.checkpoints import load_pretrained
from backbones.checkpoints.channels import STEM_WEIGHT, adapt_input_conv
from backbones.checkpoints.released import released_url
from backbones.variants import ARCHS
from engine.preflight import PreflightError
from pretrain.dataset import OwnImageFolder, read_tensor
from pretrain.dataset_stats import folder_stats, report
from pretrain.fcmae import FCMAE
from pretrain.preflight import check_fcmae
from tests.helpers import random_backbone
from tools.dataset_stats import main as run_dataset_stats

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'pretrain', 'configs')
DECODER = ('proj.', 'mask_token', 'decoder.', 'pred.')


def encoder_layouts(source):
    """layout name -> checkpoint object holding the weights of ``source`` (an atto backbone),
    each written with the layout's own names (as tests/test_checkpoint_layouts.py does)."""
    sd = {k: v.clone() for k, v in source.state_dict().items()}
    bare = {k: v for k, v in sd.items() if not k.startswith('norm')}
    head = {'norm.weight': torch.ones(320), 'norm.bias': torch.zeros(320),
            'head.weight': torch.randn(10, 320), 'head.bias': torch.zeros(10)}
    decoder = {'mask_token': torch.ones(1, 512, 1, 1), 'proj.weight': torch.ones(512, 320, 1, 1),
               'proj.bias': torch.ones(512), 'pred.weight': torch.ones(3072, 512, 1, 1),
               'pred.bias': torch.ones(3072)}
    return {
        'official sparse FCMAE': {'model': {**layout_module.to_official_sparse_fcmae(bare), **decoder}},
        'released pt_only': {'model': bare},
        'our FCMAE checkpoint': {'state_dict': {**layout_module.to_dense_fcmae(bare), **decoder}},
        'timm': layout_module.to_timm({**bare, **head}, conv_mlp=True),
        'finetuned backbone (mmdet)': {'state_dict': {f'backbone.{k}': v for k, v in sd.items()}},
        'mmpretrain': {'state_dict': {f'backbone.{k}': v for k, v in
                                      layout_module.to_mmpretrain({**bare, **head}).items()}},
        'transformers': layout_module.to_hf({**bare, **head}),
    }


def fcmae_with_init(path, in_channels=3, seed=1):
    model = FCMAE('atto', in_channels=in_channels, decoder_dim=64,
                  encoder_init=dict(type='Pretrained', checkpoint=str(path)))
    torch.manual_seed(seed)
    model.init_weights()
    return model


def fresh_decoder(seed=1, in_channels=3):
    """The decoder weights ``FCMAE._init_decoder`` draws after ``torch.manual_seed(seed)``."""
    model = FCMAE('atto', in_channels=in_channels, decoder_dim=64)
    torch.manual_seed(seed)
    model._init_decoder()
    return {k: v for k, v in model.state_dict().items() if k.startswith(DECODER)}


@pytest.mark.parametrize('layout', list(encoder_layouts(ConvNeXtV2('atto'))))
def test_encoder_init_equals_backbone_load(layout, tmp_path):
    source = random_backbone('atto')
    path = tmp_path / 'ckpt.pth'
    torch.save(encoder_layouts(source)[layout], path)
    direct = ConvNeXtV2('atto', out_indices=(3,), norm_out=False)
    load_pretrained(direct, str(path))
    model = fcmae_with_init(path)
    encoder = model.encoder.state_dict()
    assert encoder.keys() == direct.state_dict().keys()
    for key, value in direct.state_dict().items():
        assert torch.equal(encoder[key], value), (layout, key)
    for key, value in fresh_decoder().items():   # the checkpoint's decoder (ones) is not used
        assert torch.equal(model.state_dict()[key], value), (layout, key)


def test_fcmae_log_names_the_fresh_parts(tmp_path, monkeypatch):
    import pretrain.fcmae
    logged = []
    monkeypatch.setattr(pretrain.fcmae, 'print_log', lambda msg, **kw: logged.append(msg))
    path = tmp_path / 'pt_only.pth'
    torch.save(encoder_layouts(random_backbone('atto'))['released pt_only'], path)
    fcmae_with_init(path)
    out = '\n'.join(logged)
    assert 'proj, mask_token, decoder and pred start fresh' in out
    assert f'encoder initialised from {path}' in out


def test_four_channel_fcmae_from_rgb_weights_trains(tmp_path):
    source = random_backbone('atto')
    path = tmp_path / 'rgb.pth'
    torch.save({'model': {k: v for k, v in source.state_dict().items() if not k.startswith('norm')}},
               path)
    model = fcmae_with_init(path, in_channels=4)
    torch.testing.assert_close(model.encoder.state_dict()[STEM_WEIGHT],
                               adapt_input_conv(source.state_dict()[STEM_WEIGHT], 4))
    assert model.pred.out_channels == 32 * 32 * 4
    loss, pred, removed = model(torch.randn(2, 4, 64, 64))
    loss.backward()
    assert torch.isfinite(loss) and pred.shape == (2, 4, 32 * 32 * 4)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert model.encoder.downsample_layers[0][0].weight.grad is not None
    assert all(torch.isfinite(g).all() for g in grads)


def test_bad_encoder_init_is_one_line():
    with pytest.raises(ValueError, match=r'^FCMAE: encoder_init must be dict\(type="Pretrained"'):
        FCMAE('atto', encoder_init=dict(type='Kaiming'))


# -- the own-images folder ----------------------------------------------------------------------
def write_mixed_folder(root):
    """Grey images of three kinds in nested folders: 8-bit JPEG, 16-bit PNG, 16-bit TIFF."""
    import cv2
    import tifffile
    rng = np.random.default_rng(0)
    arrays = {}
    for i, (sub, ext) in enumerate([('a', 'jpg'), ('a/deeper', 'png'), ('b', 'TIF'), ('b', 'png')]):
        os.makedirs(osp.join(root, sub), exist_ok=True)
        path = osp.join(root, sub, f'img{i}.{ext}')
        if ext == 'jpg':
            array = rng.integers(0, 256, (40, 56), dtype=np.uint8)
            cv2.imwrite(path, array, [cv2.IMWRITE_JPEG_QUALITY, 100])
            array = cv2.imread(path, cv2.IMREAD_UNCHANGED)   # what the file holds after JPEG
        else:
            array = rng.integers(0, 65536, (48, 64), dtype=np.uint16)
            (tifffile.imwrite if ext == 'TIF' else cv2.imwrite)(path, array)
        arrays[path] = array
    return arrays


def test_own_folder_reads_any_layout_in_its_own_units(tmp_path):
    arrays = write_mixed_folder(str(tmp_path))
    (tmp_path / 'notes.txt').write_text('not an image')
    dataset = OwnImageFolder(str(tmp_path), img_size=32, in_channels=1)
    assert sorted(dataset.paths) == sorted(arrays)
    for path, array in arrays.items():   # exact values, 16-bit ones included
        tensor = read_tensor(path, 1)
        assert tensor.dtype == torch.float32 and tensor.shape == (1, *array.shape)
        assert torch.equal(tensor[0], torch.from_numpy(array.astype(np.float32)))
    sample = dataset[0]['inputs']
    assert sample.shape == (1, 32, 32) and sample.dtype == torch.float32


@pytest.mark.parametrize('planar', [False, True])
def test_multichannel_tiff(tmp_path, planar):
    import tifffile
    array = np.random.default_rng(1).integers(0, 65536, (33, 35, 5), dtype=np.uint16)
    path = str(tmp_path / 'stack.tiff')
    if planar:
        tifffile.imwrite(path, np.moveaxis(array, -1, 0), photometric='minisblack', planarconfig='separate')
    else:
        tifffile.imwrite(path, array, photometric='minisblack', planarconfig='contig')
    tensor = read_tensor(path, 5)
    assert torch.equal(tensor, torch.from_numpy(array.astype(np.float32)).permute(2, 0, 1))


def test_dataset_stats_match_numpy(tmp_path, capsys):
    arrays = write_mixed_folder(str(tmp_path))
    (tmp_path / 'b' / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'\0' * 50)
    stats = folder_stats(str(tmp_path))
    pixels = np.concatenate([a.reshape(-1).astype(np.float64) for a in arrays.values()])
    assert stats.count == 4 and len(stats.unreadable) == 1
    assert 'broken.png' in stats.unreadable[0][0]
    np.testing.assert_allclose(stats.mean, [pixels.mean()], rtol=1e-12)
    np.testing.assert_allclose(stats.std, [pixels.std()], rtol=1e-9)
    run_dataset_stats([str(tmp_path)])
    out = capsys.readouterr().out
    assert '4 readable images' in out and '1 unreadable' in out and 'uint16 (3 images)' in out
    assert 'mix bit depths' in out
    pasted = {}
    exec('\n'.join(line for line in out.splitlines() if line.startswith(('model =', 'train_dataloader ='))),
         {}, pasted)
    assert pasted['model']['in_channels'] == 1
    assert pasted['model']['data_preprocessor']['mean'] == [round(pixels.mean(), 3)]
    assert pasted['train_dataloader']['dataset']['data_root'] == str(tmp_path)


def test_dataset_stats_of_empty_folder_is_one_line(tmp_path):
    with pytest.raises(SystemExit) as stop:
        run_dataset_stats([str(tmp_path)])
    assert str(stop.value).startswith('dataset_stats: no images') and '\n' not in str(stop.value)


# -- configs ------------------------------------------------------------------------------------
@pytest.mark.parametrize('size', list(ARCHS))
def test_continue_config_of_every_size(size):
    cfg = Config.fromfile(osp.join(CONFIGS, f'fcmae_convnextv2_{size}_continue_custom.py'))
    assert cfg.model.arch == size and cfg.model.in_channels == 3
    assert cfg.model.encoder_init.checkpoint == released_url(size, 'fcmae')
    assert cfg.train_dataloader.dataset.type == 'OwnImageFolder'
    hooks = {h.type: h for h in cfg.custom_hooks}
    assert hooks['FreezeEncoderHook'].epochs == 5 and hooks['ReconstructionHook'].interval == 10
    assert [h.type for h in cfg.custom_hooks][4:] == ['FreezeEncoderHook', 'ReconstructionHook']
    warmup, cosine = cfg.param_scheduler
    assert cosine.end == cfg.train_cfg.max_epochs == 100 and warmup.end == cosine.begin
    assert cfg.base_lr * cfg.effective_batch_size / 256 == pytest.approx(6e-4)


def test_every_size_has_a_continue_config():
    found = {osp.basename(p) for p in glob.glob(osp.join(CONFIGS, '*_continue_custom.py'))}
    assert found == {f'fcmae_convnextv2_{s}_continue_custom.py' for s in ARCHS}


# -- bad input: one line each, before any work --------------------------------------------------
def continue_cfg(folder, checkpoint, in_channels):
    cfg = Config.fromfile(osp.join(CONFIGS, 'fcmae_convnextv2_atto_continue_custom.py'))
    cfg.model.in_channels = in_channels
    cfg.model.encoder_init.checkpoint = str(checkpoint)
    cfg.model.data_preprocessor.mean = [0.0] * in_channels
    cfg.model.data_preprocessor.std = [1.0] * in_channels
    cfg.train_dataloader.dataset.data_root = str(folder)
    cfg.train_dataloader.dataset.in_channels = in_channels
    return cfg


@pytest.fixture(scope='module')
def atto_rgb(tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'atto_pt_only.pth'
    torch.save(encoder_layouts(random_backbone('atto'))['released pt_only'], path)
    return path


def four_channel_folder(root, count=2):
    import tifffile
    os.makedirs(root, exist_ok=True)
    for i in range(count):
        tifffile.imwrite(osp.join(root, f't{i}.tif'), np.zeros((64, 64, 4), np.uint16),
                         photometric='minisblack', planarconfig='contig')
    return root


def test_preflight_passes_a_good_config(tmp_path, atto_rgb):
    notes = check_fcmae(continue_cfg(four_channel_folder(str(tmp_path)), atto_rgb, 4))
    assert '2 images' in notes[0] and 'stem adapted from 3 input channels to 4' in notes[1]


def test_preflight_empty_folder(tmp_path, atto_rgb):
    (tmp_path / 'sub').mkdir()
    with pytest.raises(PreflightError, match=r'^no images .* found under') as err:
        check_fcmae(continue_cfg(tmp_path, atto_rgb, 4))
    assert '\n' not in str(err.value)


def test_preflight_channel_count_differs(tmp_path, atto_rgb):
    import cv2
    folder = four_channel_folder(str(tmp_path))
    cv2.imwrite(osp.join(folder, 'rgb.png'), np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(PreflightError) as err:
        check_fcmae(continue_cfg(folder, atto_rgb, 4))
    assert str(err.value).startswith(f'image {osp.join(folder, "rgb.png")} has 3 channel(s) but the '
                                     'model takes in_channels=4')
    assert '\n' not in str(err.value)


def test_preflight_checkpoint_of_another_size(tmp_path):
    path = tmp_path / 'femto.pth'
    torch.save(ConvNeXtV2('femto').state_dict(), path)
    with pytest.raises(PreflightError) as err:
        check_fcmae(continue_cfg(four_channel_folder(str(tmp_path / 'imgs')), path, 4))
    assert 'is ConvNeXt V2-femto but the model is ConvNeXt V2-atto' in str(err.value)
    assert '\n' not in str(err.value)


def test_channel_preprocessor_normalises_every_channel():
    from pretrain.preprocessor import ChannelDataPreprocessor
    mean, std = [10.0, 20.0, 30.0, 40.0], [1.0, 2.0, 4.0, 8.0]
    images = torch.rand(2, 4, 8, 8) * 100
    out = ChannelDataPreprocessor(mean, std)(dict(inputs=images))['inputs']
    want = (images - torch.tensor(mean).view(1, 4, 1, 1)) / torch.tensor(std).view(1, 4, 1, 1)
    torch.testing.assert_close(out, want)
    with pytest.raises(ValueError, match='images have 3 channels but mean/std have 4 values'):
        ChannelDataPreprocessor(mean, std)(dict(inputs=torch.rand(1, 3, 8, 8)))


def test_sparse_grn_gradient_is_finite_where_a_channel_is_zero():
    """A channel exactly 0 at every visible position (GELU underflow; continuing FCMAE on small
    crops has one visible position per image in the last stage) gave NaN gradients through
    sqrt(0); now zero, as the dense path's vector_norm."""
    from backbones.layers import GRN
    grn = GRN(4)
    with torch.no_grad():
        grn.gamma.fill_(0.5)
    rows = torch.randn(3, 4, dtype=torch.float64)
    rows[:, 1] = 0.0
    rows.requires_grad_(True)
    grn.double().forward_rows(rows, torch.tensor([0, 0, 1]), 2).sum().backward()
    assert torch.isfinite(rows.grad).all() and torch.isfinite(grn.gamma.grad).all()
    dense = rows.detach().clone().requires_grad_(True)   # the same two images, dense
    images = torch.zeros(2, 1, 2, 4, dtype=torch.float64)
    images[0, 0, :2] = dense[:2]
    images[1, 0, 0] = dense[2]
    visible = torch.tensor([[1.0, 1.0], [1.0, 0.0]], dtype=torch.float64).view(2, 1, 2, 1)
    torch.testing.assert_close(grn(images, visible)[visible.expand(-1, -1, -1, 4) > 0].view(3, 4),
                               grn.forward_rows(rows.detach(), torch.tensor([0, 0, 1]), 2))


def test_bad_input_through_the_tools_is_one_line_before_any_work(tmp_path, atto_rgb):
    """As a user runs them: tools/pretrain_fcmae.py on a continue config and tools/dataset_stats.py;
    nothing is written (no work dir), one or two lines naming the problem."""
    from tests.bad_input_harness import Case, report, run_cases
    good = four_channel_folder(str(tmp_path / 'good'))
    empty = tmp_path / 'empty' / 'nested'
    empty.mkdir(parents=True)
    mixed = four_channel_folder(str(tmp_path / 'mixed'))
    import cv2
    cv2.imwrite(osp.join(mixed, 'a_rgb.png'), np.zeros((64, 64, 3), np.uint8))
    femto = tmp_path / 'femto.pth'
    torch.save(ConvNeXtV2('femto').state_dict(), femto)
    work = str(tmp_path / 'work')

    def pretrain(folder, checkpoint):
        return ['tools/pretrain_fcmae.py', osp.join(CONFIGS, 'fcmae_convnextv2_atto_continue_custom.py'),
                '--work-dir', work, '--cfg-options', 'model.in_channels=4',
                f'model.encoder_init.checkpoint={checkpoint}',
                'model.data_preprocessor.mean=[0,0,0,0]', 'model.data_preprocessor.std=[1,1,1,1]',
                f'train_dataloader.dataset.data_root={folder}', 'train_dataloader.dataset.in_channels=4']

    watch = [work, str(tmp_path / 'good'), str(tmp_path / 'mixed')]
    cases = [
        Case('empty folder', pretrain(str(empty.parent), atto_rgb), watch, ['no images', str(empty.parent)]),
        Case('channel count', pretrain(mixed, atto_rgb), watch,
             ['a_rgb.png has 3 channel(s)', 'in_channels=4']),
        Case('other size', pretrain(good, femto), watch, ['femto', 'atto', 'encoder_init']),
        Case('stats of empty folder', ['tools/dataset_stats.py', str(empty.parent)], watch, ['no images']),
    ]
    results = run_cases(cases, str(tmp_path / 'cwd'), timeout=300)
    assert not report(results), report(results)
    assert all(r.code not in (0, None) for r in results)
