"""tools/convert_fcmae.py: every FCMAE layout -> backbone weights that reproduce the encoder."""
import argparse
import os

import pytest
import torch

from backbones.checkpoints.load import CheckpointError
from backbones.checkpoints.layouts import to_dense_fcmae, to_official_sparse_fcmae
from backbones.convnextv2 import ConvNeXtV2
from pretrain.fcmae import FCMAE
from backbones.checkpoints.extract import convert_fcmae as convert_file
from tools.convert_fcmae import main

LAYOUTS = ('ours', 'official_sparse', 'dense_pt_only')


@pytest.fixture(scope='module')
def fcmae():
    torch.manual_seed(0)
    model = FCMAE(arch='atto', decoder_dim=64).double().eval()
    with torch.no_grad():   # GRN and biases start at zero; make every tensor matter
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    return model


def fcmae_checkpoint(model, layout):
    """The model saved the way each producer of FCMAE checkpoints saves it."""
    encoder = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    extras = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith('encoder.')}
    if layout == 'ours':   # mmengine Runner checkpoint of pretrain/
        return dict(meta=dict(epoch=800), state_dict={**to_dense_fcmae(encoder), **extras},
                    message_hub=dict(), optimizer=dict())
    if layout == 'official_sparse':   # main_pretrain.py of the official code (MinkowskiEngine)
        return dict(model={**to_official_sparse_fcmae(encoder), **extras}, epoch=799,
                    args=argparse.Namespace(model='convnextv2_atto', mask_ratio=0.6))
    return dict(model={**to_dense_fcmae(encoder), **extras})   # released *_fcmae.pt


def encoder_features(model, images):
    """All four stages of the FCMAE encoder run in its masked mode with nothing removed."""
    visible = torch.ones(images.shape[0], 1, images.shape[2] // 32, images.shape[3] // 32,
                         dtype=images.dtype)
    model.encoder.out_indices = (0, 1, 2, 3)
    try:
        with torch.no_grad():
            return model.encoder(images, visible)
    finally:
        model.encoder.out_indices = (3,)


@pytest.mark.parametrize('fmt', ['backbone', 'mmdet'])
@pytest.mark.parametrize('layout', LAYOUTS)
def test_round_trip_reproduces_the_encoder(fcmae, tmp_path, layout, fmt):
    src, dst = tmp_path / f'{layout}.pth', tmp_path / 'out.pth'
    torch.save(fcmae_checkpoint(fcmae, layout), src)
    report = convert_file(str(src), str(dst), fmt)
    assert 'dropped (not backbone; tensors): decoder 10, mask_token 1, pred 2, proj 2' in report
    assert set(os.listdir(tmp_path)) == {src.name, dst.name}   # no temporary file left

    written = torch.load(dst, weights_only=True)
    keys = written['state_dict'] if fmt == 'mmdet' else written
    prefix = 'backbone.' if fmt == 'mmdet' else ''
    assert all(k.startswith(prefix) for k in keys)
    assert {k[len(prefix):].split('.')[0] for k in keys} == {'downsample_layers', 'stages'}

    backbone = ConvNeXtV2('atto', out_indices=(0, 1, 2, 3), norm_out=False,
                          init_cfg=dict(type='Pretrained', checkpoint=str(dst))).double()
    backbone.init_weights()
    images = torch.randn(2, 3, 64, 96, dtype=torch.float64)
    with torch.no_grad():
        got = backbone(images)
    for stage, (a, b) in enumerate(zip(got, encoder_features(fcmae, images))):
        # float64; the masked path may sum in another order (visible rows gathered), nothing more
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10,
                                   msg=f'stage {stage} differs after {layout} -> {fmt}')


def test_existing_output_needs_force_and_is_replaced_atomically(fcmae, tmp_path, monkeypatch):
    src, dst = tmp_path / 'in.pth', tmp_path / 'out.pth'
    torch.save(fcmae_checkpoint(fcmae, 'ours'), src)
    dst.write_bytes(b'keep me')
    with pytest.raises(CheckpointError, match='exists; pass --force'):
        convert_file(str(src), str(dst))
    assert dst.read_bytes() == b'keep me'

    def dies_mid_write(obj, f, *args, **kwargs):
        f.write(b'half a checkpoint')
        raise KeyboardInterrupt
    monkeypatch.setattr('engine.atomic_io.torch.save', dies_mid_write)
    with pytest.raises(KeyboardInterrupt):
        convert_file(str(src), str(dst), force=True)
    assert dst.read_bytes() == b'keep me'
    assert sorted(os.listdir(tmp_path)) == ['in.pth', 'out.pth']

    monkeypatch.undo()
    convert_file(str(src), str(dst), force=True)
    assert 'stages.0.0.dwconv.weight' in torch.load(dst, weights_only=True)


def test_broken_or_foreign_inputs_fail_in_one_line_and_write_nothing(fcmae, tmp_path):
    dst = tmp_path / 'out.pth'
    broken = fcmae_checkpoint(fcmae, 'dense_pt_only')
    del broken['model']['encoder.stages.2.3.pwconv1.weight']
    torch.save(broken, tmp_path / 'broken.pth')
    with pytest.raises(CheckpointError, match=r'missing keys \[stages.2.3.pwconv1.weight\]'):
        convert_file(str(tmp_path / 'broken.pth'), str(dst))

    torch.save(fcmae.encoder.state_dict(), tmp_path / 'backbone.pth')
    with pytest.raises(CheckpointError, match='not an FCMAE checkpoint'):
        convert_file(str(tmp_path / 'backbone.pth'), str(dst))

    (tmp_path / 'truncated.pth').write_bytes((tmp_path / 'backbone.pth').read_bytes()[:1000])
    with pytest.raises(CheckpointError, match='corrupt, truncated'):
        convert_file(str(tmp_path / 'truncated.pth'), str(dst))
    assert not dst.exists()


def test_command_line(fcmae, tmp_path, capsys):
    src, dst = tmp_path / 'in.pth', tmp_path / 'out.pth'
    torch.save(fcmae_checkpoint(fcmae, 'official_sparse'), src)
    main([str(src), '--out', str(dst), '--format', 'mmdet'])
    out = capsys.readouterr().out
    assert 'official FCMAE pretraining (sparse MinkowskiEngine)' in out
    assert 'ConvNeXt V2-atto encoder' in out
    with pytest.raises(SystemExit, match='exists; pass --force'):
        main([str(src), '--out', str(dst)])


def test_old_positional_out_still_works_with_a_warning(fcmae, tmp_path):
    src, dst = tmp_path / 'in.pth', tmp_path / 'out.pth'
    torch.save(fcmae_checkpoint(fcmae, 'ours'), src)
    with pytest.warns(FutureWarning, match='write --out OUT'):
        main([str(src), str(dst)])
    assert dst.is_file()
    with pytest.raises(SystemExit):   # both spellings at once: argparse's one line
        main([str(src), str(dst), '--out', str(dst), '--force'])


@pytest.mark.parametrize('layout', LAYOUTS)
def test_visualiser_rebuilds_the_whole_fcmae_from_every_layout(fcmae, tmp_path, layout):
    from pretrain.visualize import fcmae_from_checkpoint
    torch.save(fcmae_checkpoint(fcmae, layout), tmp_path / 'in.pth')
    rebuilt = fcmae_from_checkpoint(str(tmp_path / 'in.pth')).double()
    images = torch.randn(1, 3, 64, 96, dtype=torch.float64)
    removed = torch.tensor([[1.0, 0, 1, 0, 0, 1]], dtype=torch.float64)
    with torch.no_grad():   # the rebuilt model holds float32 weights: only rounding differs
        torch.testing.assert_close(rebuilt(images, removed=removed)[1], fcmae(images, removed=removed)[1],
                                   rtol=1e-5, atol=1e-5)
