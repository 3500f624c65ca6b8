"""The finetune classifier: head init scale 0.001 (Tables 9-13), init from converted FCMAE / other
classifier checkpoints with head re-initialisation, clear errors, and the backbone export."""
import os

import pytest
import torch
import torch.nn.functional as F
from timm.loss import SoftTargetCrossEntropy

from backbones import ConvNeXtV2
from backbones.checkpoints.load import CheckpointError
from backbones.checkpoints.layouts import to_dense_fcmae
from finetune.classifier import ConvNeXtV2Classifier, load_classifier_weights
from tests.helpers import random_backbone, randomize_norms_and_grn
from backbones.checkpoints.extract import export_backbone as export_backbone_file
from tools import export_backbone


def classifier(arch='atto', num_classes=10, **kwargs):
    torch.manual_seed(1)
    model = ConvNeXtV2Classifier(arch, num_classes=num_classes, **kwargs)
    model.init_weights()
    return model


def trained_classifier(num_classes=10, seed=0):
    """A classifier with non-trivial values everywhere, as after a finetune."""
    torch.manual_seed(seed)
    model = ConvNeXtV2Classifier('atto', num_classes=num_classes)
    model.init_weights()
    randomize_norms_and_grn(model, seed)
    with torch.no_grad():
        model.head.weight.normal_()
        model.head.bias.normal_()
    return model


def is_fresh_head(head):
    """std 0.02 x 0.001 (the official trunc_normal_ cuts at +-2, not at 2 std), bias 0."""
    return (head.weight.std().item() == pytest.approx(2e-5, rel=0.1)
            and torch.count_nonzero(head.bias) == 0)


def same(a, b):
    return all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


def test_head_starts_at_a_thousandth_of_its_init():
    """head init 0.001 (Tables 9-13): trunc-normal(std 0.02) x 0.001, bias 0."""
    model = classifier(num_classes=1000)
    weight = model.head.weight
    assert is_fresh_head(model.head)
    assert torch.count_nonzero(model.head.bias) == 0
    unscaled = classifier(num_classes=1000, head_init_scale=1.0).head.weight
    assert torch.allclose(weight, unscaled * 0.001)


def test_forward_modes_and_losses():
    model = classifier(num_classes=5, label_smoothing=0.1).eval()
    x = torch.randn(4, 3, 64, 64)
    logits = model(x)
    assert logits.shape == (4, 5)
    labels = torch.tensor([0, 1, 2, 3])
    hard = model(x, labels, mode='loss')['loss']
    assert hard.item() == pytest.approx(F.cross_entropy(logits, labels, label_smoothing=0.1).item(),
                                        rel=1e-5)
    soft_targets = torch.softmax(torch.randn(4, 5), dim=1)
    soft = model(x, soft_targets, mode='loss')['loss']
    reference = SoftTargetCrossEntropy()(logits, soft_targets)
    assert soft.item() == pytest.approx(reference.item(), rel=1e-5)
    predictions = model(x, labels, mode='predict')
    assert [p['gt_label'] for p in predictions] == [0, 1, 2, 3]
    assert torch.allclose(torch.stack([p['scores'] for p in predictions]), logits)


def test_parameter_names_are_what_layer_decay_and_export_expect():
    names = [n for n, _ in classifier().named_parameters()]
    assert {n.split('.')[0] for n in names} == {'backbone', 'norm', 'head'}
    assert 'backbone.stages.2.5.grn.gamma' in names
    assert not any(n.startswith('backbone.norm') for n in names)   # no per-stage output norms


def test_init_from_dense_fcmae_loads_the_backbone_and_starts_norm_and_head_fresh(tmp_path):
    encoder = random_backbone('atto', norm_out=False)
    fcmae = to_dense_fcmae(encoder.state_dict())
    fcmae.update({'mask_token': torch.zeros(1, 512, 1, 1), 'decoder.0.weight': torch.ones(3)})
    path = str(tmp_path / 'fcmae.pth')
    torch.save({'model': fcmae}, path)
    model = classifier(pretrained=path)
    assert same(model.backbone, encoder)
    assert torch.equal(model.norm.weight, torch.ones(320))
    assert is_fresh_head(model.head)


def test_head_is_reinitialised_when_the_class_count_differs(tmp_path):
    source = trained_classifier(num_classes=21841 // 1000)   # stands in for IN-22K -> IN-1K
    path = str(tmp_path / 'in22k.pth')
    torch.save({'state_dict': source.state_dict()}, path)

    model = ConvNeXtV2Classifier('atto', num_classes=7)
    model.init_weights()
    message = load_classifier_weights(model, path)
    assert 'head re-initialised: checkpoint has 21 classes, model has 7' in message
    assert same(model.backbone, source.backbone) and same(model.norm, source.norm)
    assert is_fresh_head(model.head)

    same_classes = classifier(num_classes=21, pretrained=path)
    assert same(same_classes, source)


def test_official_classifier_checkpoint_keeps_its_head(tmp_path):
    source = trained_classifier(num_classes=10)
    official = {k[len('backbone.'):] if k.startswith('backbone.') else k: v
                for k, v in source.state_dict().items()}
    path = str(tmp_path / 'official.pth')
    torch.save({'model': official}, path)
    assert same(classifier(num_classes=10, pretrained=path), source)


def test_missing_checkpoint_names_the_file(tmp_path):
    path = str(tmp_path / 'nope.pth')
    with pytest.raises(CheckpointError, match=f'checkpoint {path} does not exist'):
        classifier(pretrained=path)


def test_checkpoint_of_another_size_names_both_sizes(tmp_path):
    path = str(tmp_path / 'femto.pth')
    torch.save(ConvNeXtV2('femto', norm_out=False).state_dict(), path)
    with pytest.raises(CheckpointError, match='V2-femto but the model is ConvNeXt V2-atto'):
        classifier(pretrained=path)


def test_checkpoint_missing_a_block_names_the_key(tmp_path):
    weights = ConvNeXtV2('atto', norm_out=False).state_dict()
    del weights['stages.2.4.pwconv2.weight']
    path = str(tmp_path / 'broken.pth')
    torch.save(weights, path)
    with pytest.raises(CheckpointError, match=r'missing keys \[stages\.2\.4\.pwconv2\.weight\]'):
        classifier(pretrained=path)


def mmengine_ema_checkpoint(path, seed=0):
    """What tools/finetune_imagenet.py writes with EMA on: EMA weights in state_dict, raw ones (module.*)
    in ema_state_dict."""
    ema, raw = trained_classifier(seed=seed), trained_classifier(seed=seed + 1)
    ema_state = {f'module.{k}': v for k, v in raw.state_dict().items()}
    ema_state['steps'] = torch.tensor(7)
    torch.save({'meta': {'epoch': 3}, 'state_dict': ema.state_dict(), 'ema_state_dict': ema_state},
               path)
    return ema, raw


@pytest.mark.parametrize('weights', ['auto', 'raw'])
def test_export_writes_the_ema_or_raw_backbone_that_det_seg_init_cfg_loads(tmp_path, weights):
    ckpt = str(tmp_path / 'epoch_3.pth')
    ema, raw = mmengine_ema_checkpoint(ckpt)
    out = str(tmp_path / 'checkpoints' / 'atto.pth')
    report = export_backbone_file(ckpt, out, weights=weights)
    assert report[-1] == f'wrote {out}'
    expected = ema if weights == 'auto' else raw
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['arch'] == 'atto'
    assert set(saved['state_dict']) == set(ConvNeXtV2('atto', norm_out=False).state_dict())

    det_backbone = ConvNeXtV2('atto', init_cfg=dict(type='Pretrained', checkpoint=out))
    det_backbone.init_weights()
    for key, value in expected.backbone.state_dict().items():
        assert torch.equal(det_backbone.state_dict()[key], value), key


def test_export_default_name_is_where_det_and_seg_configs_look(tmp_path, monkeypatch):
    ckpt = str(tmp_path / 'epoch_3.pth')
    mmengine_ema_checkpoint(ckpt)
    monkeypatch.chdir(tmp_path)
    export_backbone.main([ckpt])
    assert os.path.isfile('checkpoints/convnextv2_atto_1k_224_backbone.pth')


def test_export_refuses_to_overwrite_and_replaces_atomically_with_force(tmp_path, monkeypatch):
    ckpt = str(tmp_path / 'epoch_3.pth')
    mmengine_ema_checkpoint(ckpt)
    out = tmp_path / 'backbone.pth'
    out.write_bytes(b'old')
    with pytest.raises(CheckpointError, match='exists; pass --force'):
        export_backbone_file(ckpt, str(out))
    assert out.read_bytes() == b'old'

    def crash(*args, **kwargs):
        raise RuntimeError('disk full')
    monkeypatch.setattr(torch, 'save', crash)
    with pytest.raises(RuntimeError):
        export_backbone_file(ckpt, str(out), force=True)
    assert out.read_bytes() == b'old'
    assert os.listdir(tmp_path) == sorted(os.listdir(tmp_path)) and len(os.listdir(tmp_path)) == 2
    monkeypatch.undo()
    export_backbone_file(ckpt, str(out), force=True)
    assert 'state_dict' in torch.load(str(out), weights_only=True)


def test_export_of_a_broken_checkpoint_fails_in_one_line_and_writes_nothing(tmp_path):
    ckpt = tmp_path / 'epoch_3.pth'
    ema, _ = mmengine_ema_checkpoint(str(ckpt))
    state = ema.state_dict()
    del state['backbone.stages.3.1.grn.beta']
    torch.save({'state_dict': state}, str(ckpt))
    out = tmp_path / 'out.pth'
    missing = r'export_backbone: .*missing keys \[stages\.3\.1\.grn\.beta\]'
    with pytest.raises(SystemExit, match=missing):
        export_backbone.main([str(ckpt), '--out', str(out)])
    with pytest.raises(SystemExit, match='has no EMA weights'):
        export_backbone.main([str(ckpt), '--out', str(out), '--weights', 'ema'])
    assert not out.exists()
