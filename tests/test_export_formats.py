"""Issue 21, writing: ``tools/export_backbone.py --format official|timm|hf|mmpretrain|mmdet`` from
any checkpoint the loader reads, opened by each peer's own loader - ``timm.create_model('local-dir:
OUT')`` or ``pretrained_cfg_overlay=dict(file=...)``, transformers ``from_pretrained(folder)``,
mmpretrain's ``init_cfg`` - gives the same stage outputs (and, with a head, the same logits) in
float64."""
import json

import pytest
import torch
import torch.nn.functional as F

from backbones import ConvNeXtV2
from tests import peer_checkpoints as peers

pytest.importorskip('transformers', reason=peers.NO_PEERS)
from tests.helpers import random_backbone
from tests.test_released_weights import ATTO, official_encoder
from tools import export_backbone as export_tool

TOL = 1e-8


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    """An official finetuned checkpoint ({'model': encoder + norm + head}) and its float64 stage
    outputs and logits, computed by hand from the official classifier (pool, LayerNorm, Linear)."""
    folder = tmp_path_factory.mktemp('export')
    model = random_backbone('atto', seed=3, norm_out=False)
    gen = torch.Generator().manual_seed(5)
    head = {'norm.weight': 1 + 0.2 * torch.randn(320, generator=gen),
            'norm.bias': 0.2 * torch.randn(320, generator=gen),
            'head.weight': 0.2 * torch.randn(peers.CLASSES, 320, generator=gen),
            'head.bias': 0.2 * torch.randn(peers.CLASSES, generator=gen)}
    path = folder / 'finetuned.pth'
    torch.save({'model': {**model.state_dict(), **head}}, path)
    with torch.no_grad():
        stages = model.double()(peers.peer_input())
        pooled = F.layer_norm(stages[-1].mean((2, 3)), (320,), head['norm.weight'].double(),
                              head['norm.bias'].double(), eps=1e-6)
        logits = F.linear(pooled, head['head.weight'].double(), head['head.bias'].double())
    return folder, path, stages, logits


def export(source, fmt, name=None, src=None):
    out = source[0] / (name or f'out_{fmt}')
    export_tool.main([str(src or source[1]), '--format', fmt, '--out', str(out)])
    return out


def assert_close(got, expected):
    assert len(got) == len(expected)
    assert max((a - b).abs().max().item() for a, b in zip(got, expected)) < TOL


def test_timm_opens_the_timm_export(source):
    import timm
    out = export(source, 'timm')
    config = json.loads((out / 'config.json').read_text())
    assert config['architecture'] == 'convnextv2_atto' and config['num_classes'] == peers.CLASSES
    model = timm.create_model(f'local-dir:{out}', pretrained=True).double().eval()
    assert_close(peers.stage_outputs(model, list(model.stages), peers.peer_input()), source[2])
    with torch.no_grad():
        assert_close([model(peers.peer_input())], [source[3]])


def test_timm_and_hf_exports_of_a_backbone_without_head(source, tmp_path):
    import timm
    bare = tmp_path / 'backbone.pth'
    torch.save(random_backbone('atto', seed=4).state_dict(), bare)
    out = tmp_path / 'timm'
    export_tool.main([str(bare), '--format', 'timm', '--out', str(out)])
    model = timm.create_model('convnextv2_atto', pretrained=True, pretrained_cfg_overlay=dict(
        file=str(out / 'model.safetensors'), num_classes=0)).double().eval()
    ours = ConvNeXtV2('atto', norm_out=False, init_cfg=dict(type='Pretrained', checkpoint=str(bare)))
    ours.init_weights()
    with torch.no_grad():
        expected = ours.double().eval()(peers.peer_input())
        assert_close(peers.stage_outputs(model, list(model.stages), peers.peer_input()), expected)
    from transformers import ConvNextV2Model   # no head: the hf export is a ConvNextV2Model
    export_tool.main([str(bare), '--format', 'hf', '--out', str(tmp_path / 'hf')])
    assert json.loads((tmp_path / 'hf' / 'config.json').read_text())['architectures'] == ['ConvNextV2Model']
    hf = ConvNextV2Model.from_pretrained(str(tmp_path / 'hf')).double().eval()
    with torch.no_grad():
        assert_close(hf(peers.peer_input(), output_hidden_states=True).hidden_states[1:], expected)


def test_transformers_opens_the_hf_export(source):
    from transformers import ConvNextV2ForImageClassification
    out = export(source, 'hf')
    model = ConvNextV2ForImageClassification.from_pretrained(str(out)).double().eval()
    with torch.no_grad():
        result = model(peers.peer_input(), output_hidden_states=True)
    assert_close(result.hidden_states[1:], source[2])
    assert_close([result.logits], [source[3]])


def test_mmpretrain_opens_the_mmpretrain_export(source):
    out = export(source, 'mmpretrain', 'mmpretrain.pth')
    peers.run_mmpretrain('mmpretrain-load', out, source[0] / 'mm_outputs.pth')
    got = torch.load(source[0] / 'mm_outputs.pth', weights_only=True)
    assert_close(got['stages'], source[2])
    assert_close([got['logits']], [source[3]])


def test_official_and_mmdet_exports_have_their_names(source):
    official = torch.load(export(source, 'official', 'official.pth'), weights_only=True)
    names = set(official_encoder(*ATTO)) | {'norm.weight', 'norm.bias', 'head.weight', 'head.bias'}
    assert set(official['model']) == names
    mmdet = torch.load(export(source, 'mmdet', 'mmdet.pth'), weights_only=True)
    assert set(mmdet['state_dict']) == {f'backbone.{k}' for k in official_encoder(*ATTO)}
    for path in (source[0] / 'official.pth', source[0] / 'mmdet.pth'):
        model = ConvNeXtV2('atto', norm_out=False, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
        model.init_weights()
        with torch.no_grad():
            assert_close(model.double().eval()(peers.peer_input()), source[2])


def test_export_reads_a_peer_folder_and_refuses_to_overwrite(source, capsys):
    """transformers folder in, timm folder out (through the loader); an existing OUT is kept."""
    hf = export(source, 'hf', 'hf_again')
    out = export(source, 'timm', 'timm_from_hf', src=hf)
    assert 'Hugging Face transformers ConvNextV2' in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r'timm_from_hf exists; pass --force'):
        export(source, 'timm', 'timm_from_hf', src=hf)
    assert sorted(p.name for p in out.iterdir()) == ['config.json', 'model.safetensors']
