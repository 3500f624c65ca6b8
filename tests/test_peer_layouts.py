"""Issue 21, reading: checkpoints written by timm, transformers and mmpretrain's own code load
through the one loader (init_cfg) and give the peer's own stage outputs to 1e-8 in float64;
every layout is recognised by exactly one detector of ``layouts.LAYOUTS``.

The fixtures come from ``tests/peer_checkpoints.py`` (the peers' models and save functions, random
weights with non-zero GRN); mmpretrain's are written by a process of their own.
"""
import os.path as osp
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from backbones import ConvNeXtV2
from backbones.checkpoints import layouts as L
from backbones.checkpoints.load import CheckpointError, load_pretrained, read_checkpoint, state_dict_of
from tests import peer_checkpoints as peers

pytest.importorskip('transformers', reason=peers.NO_PEERS)
from tests.helpers import random_backbone

TOL = 1e-8


@pytest.fixture(scope='module')
def peer_files(tmp_path_factory):
    """name -> (checkpoint path, the peer's float64 stage outputs, output norms the file has)."""
    root = tmp_path_factory.mktemp('peers')
    peers.start_mmpretrain()
    found = {}
    found['timm folder (model.safetensors)'] = (root / 'timm', peers.timm_folder(root / 'timm'), '')
    found['timm folder (pytorch_model.bin)'] = (
        root / 'timm_bin', peers.timm_folder(root / 'timm_bin', safe=False, seed=1), '')
    found['timm model.safetensors file'] = (root / 'timm' / 'model.safetensors',
                                            found['timm folder (model.safetensors)'][1], '')
    found['transformers save_pretrained (classifier)'] = (root / 'hf_cls', peers.hf_folder(root / 'hf_cls'), '')
    found['transformers save_pretrained (model)'] = (
        root / 'hf_model', peers.hf_folder(root / 'hf_model', classifier=False, seed=2), '')
    found['transformers sharded'] = (
        root / 'hf_shards', peers.hf_folder(root / 'hf_shards', seed=3, max_shard_size='5MB'), '')
    model = peers.hf_model(seed=4)
    torch.save(model.state_dict(), root / 'pytorch_model.bin')
    found['transformers pytorch_model.bin'] = (root / 'pytorch_model.bin', peers.hf_stage_outputs(model), '')
    old = {k.replace('.grn.weight', '.grn.gamma').replace('.grn.bias', '.grn.beta'): v
           for k, v in load_file(str(root / 'hf_cls' / 'model.safetensors')).items()}
    save_file(old, str(root / 'hf_old_grn.safetensors'))
    found['transformers older GRN gamma/beta'] = (root / 'hf_old_grn.safetensors',
                                                  found['transformers save_pretrained (classifier)'][1], '')
    paths, outputs = peers.mmpretrain_checkpoints(root / 'mmpretrain')
    found['mmpretrain ImageClassifier'] = (paths['classifier'], outputs['classifier'], 'norm3')
    found['mmpretrain detection backbone'] = (paths['detection'], outputs['detection'],
                                              'norm0, norm1, norm2, norm3')
    found['mmpretrain FCMAE encoder'] = (paths['fcmae'], outputs['fcmae'], '')
    return found, outputs


PEERS = ['timm folder (model.safetensors)', 'timm folder (pytorch_model.bin)',
         'timm model.safetensors file', 'transformers save_pretrained (classifier)',
         'transformers save_pretrained (model)', 'transformers sharded',
         'transformers pytorch_model.bin', 'transformers older GRN gamma/beta',
         'mmpretrain ImageClassifier', 'mmpretrain detection backbone', 'mmpretrain FCMAE encoder']


def ours_from(checkpoint, norm_out=False, **init):
    model = ConvNeXtV2(dict(depths=peers.ATTO_DEPTHS, dims=peers.ATTO_DIMS), norm_out=norm_out,
                       init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint), **init))
    model.init_weights()
    return model.double().eval()


def max_difference(ours, theirs):
    assert len(ours) == len(theirs) == 4
    return max((a - b).abs().max().item() for a, b in zip(ours, theirs))


@pytest.mark.parametrize('peer', PEERS)
def test_peer_checkpoint_gives_the_peers_stage_outputs(peer, peer_files):
    path, expected, norms = peer_files[0][peer]
    model = ours_from(path)
    with torch.no_grad():
        got = model(peers.peer_input())
    assert max_difference(got, expected) < TOL, peer


def test_output_norms_that_exist_load_the_rest_start_fresh(peer_files):
    """mmpretrain norm{i}: a detection backbone's four load (normed outputs equal mmpretrain's own
    backbone outputs); an ImageClassifier has norm3 only; an FCMAE encoder none."""
    found, outputs = peer_files
    reports = {}
    for name in ('mmpretrain detection backbone', 'mmpretrain ImageClassifier', 'mmpretrain FCMAE encoder'):
        model = ConvNeXtV2('atto').eval()
        reports[name] = load_pretrained(model, str(found[name][0]))
        if name == 'mmpretrain detection backbone':
            with torch.no_grad():
                normed = model.double()(peers.peer_input())
            assert max_difference(normed, outputs['detection_normed']) < TOL
    assert 'freshly initialised: nothing' in reports['mmpretrain detection backbone']
    assert 'freshly initialised: norm0, norm1, norm2;' not in reports['mmpretrain ImageClassifier']
    assert reports['mmpretrain ImageClassifier'].endswith('freshly initialised: norm0, norm1, norm2')
    assert reports['mmpretrain FCMAE encoder'].endswith('freshly initialised: norm0, norm1, norm2, norm3')


def test_mmpretrain_with_or_without_the_backbone_prefix(peer_files, tmp_path):
    path, expected, _ = peer_files[0]['mmpretrain ImageClassifier']
    state = torch.load(path, weights_only=True)['state_dict']
    bare = tmp_path / 'bare.pth'
    torch.save({k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}, bare)
    for model in (ours_from(bare), ours_from(path, prefix='backbone.')):
        with torch.no_grad():
            assert max_difference(model(peers.peer_input()), expected) < TOL


def test_hf_config_json_is_checked_against_the_weights(peer_files, tmp_path):
    folder = tmp_path / 'hf'
    shutil.copytree(peer_files[0]['transformers save_pretrained (classifier)'][0], folder)
    peers.rewrite_config(folder, hidden_sizes=[48, 96, 192, 384])
    with pytest.raises(CheckpointError, match=r'config.json says ConvNeXt V2-femto but the weights '
                                              r'are ConvNeXt V2-atto'):
        ours_from(folder)
    peers.rewrite_config(folder, model_type='convnext')
    with pytest.raises(CheckpointError, match=r"transformers 'convnext' model, not ConvNeXt V2"):
        ours_from(folder)
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'config.json').write_text('{}')
    with pytest.raises(CheckpointError, match=r'folder without weights: expected one of '
                                              r'model.safetensors'):
        ours_from(empty)


def test_timm_config_json_is_checked_against_the_weights(peer_files, tmp_path):
    folder = tmp_path / 'timm'
    shutil.copytree(peer_files[0]['timm folder (model.safetensors)'][0], folder)
    peers.rewrite_config(folder, architecture='convnextv2_tiny')
    with pytest.raises(CheckpointError, match='config.json says ConvNeXt V2-tiny'):
        ours_from(folder)


# -- detection: every layout, every detector ------------------------------------------------------
def as_the_loader_sees(obj):
    state, container = state_dict_of(obj)
    if any(k.startswith('backbone.') for k in state):
        state = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    return state, container


def every_layout(found):
    """layout name -> (state dict, container), from the peers' files and our own writers."""
    ours = dict(random_backbone('atto').state_dict())
    bare = {k: v for k, v in ours.items() if not k.startswith('norm')}
    timm = 'timm convnextv2_*'
    hf = 'Hugging Face transformers ConvNextV2'
    mm = 'mmpretrain ConvNeXt V2'
    cases = [('official FCMAE pretraining (sparse MinkowskiEngine)', ({'model': L.to_official_sparse_fcmae(bare)})),
             ('dense FCMAE (encoder.*)', {'model': L.to_dense_fcmae(bare)}),
             (L.RELEASED_FCMAE, {'model': bare}),
             ('official / ConvNeXt V2 toolkit', {'state_dict': ours}),
             ('official / ConvNeXt V2 toolkit', {'model': {**bare, 'norm.weight': torch.ones(320),
                                                           'head.weight': torch.ones(10, 320)}}),
             (timm, {'state_dict': peers.timm_model().state_dict()})]
    for name in PEERS:
        layout = timm if name.startswith('timm') else hf if name.startswith('trans') else mm
        cases.append((layout, read_checkpoint(str(found[name][0]))))
    from transformers import ConvNextV2Backbone
    cases.append((hf, {'state_dict': ConvNextV2Backbone(peers.hf_config(
        out_features=['stage1', 'stage2', 'stage3', 'stage4'])).state_dict()}))
    return [(layout, *as_the_loader_sees(obj)) for layout, obj in cases]


def test_every_layout_matches_exactly_one_detector(peer_files):
    for layout, state, container in every_layout(peer_files[0]):
        hits = [name for name, detect, _ in L.LAYOUTS if detect(state)]
        if layout == L.RELEASED_FCMAE:   # told apart from a backbone file by its container
            assert hits == ['official / ConvNeXt V2 toolkit'] and L.is_released_fcmae(state, container)
        else:
            assert hits == [layout], (layout, hits)
        assert L.to_canonical(state, container)[0] == layout


def test_every_reader_takes_peer_folders(peer_files, capsys):
    """The one loader behind every tool: analyze_features' loader, the finetune classifier
    (--pretrained; head and final norm of a transformers classifier load), convert_fcmae (refuses
    a finetuned folder naming its layout), the det/seg preflight (init_cfg = a folder)."""
    from analysis.checkpoints import backbone_from_checkpoint
    from backbones.checkpoints.extract import convert_fcmae
    from downstream.preflight import check_init_checkpoints
    from finetune.classifier import ConvNeXtV2Classifier, load_classifier_weights
    folder = str(peer_files[0]['transformers save_pretrained (classifier)'][0])
    _, description = backbone_from_checkpoint(folder, check_only=True)
    assert description.startswith('ConvNeXt V2-atto, Hugging Face transformers ConvNextV2')
    report = load_classifier_weights(ConvNeXtV2Classifier('atto', num_classes=peers.CLASSES), folder)
    assert report.endswith(f'final norm loaded; head loaded ({peers.CLASSES} classes)')
    with pytest.raises(CheckpointError, match='is not an FCMAE checkpoint \\(found layout: Hugging '
                                              'Face transformers ConvNextV2'):
        convert_fcmae(folder, folder + '.pth')
    check_init_checkpoints(dict(backbone=dict(type='ConvNeXtV2', arch='atto', init_cfg=dict(
        type='Pretrained', checkpoint=folder))))
    wrong = dict(type='ConvNeXtV2', arch='tiny', init_cfg=dict(type='Pretrained', checkpoint=folder))
    with pytest.raises(Exception, match='is ConvNeXt V2-atto but the model is ConvNeXt V2-tiny'):
        check_init_checkpoints(dict(backbone=wrong))


def test_release_table_lists_the_hub_ids():
    from backbones.checkpoints.official import release_table
    from backbones.checkpoints.released import RELEASES
    table = '\n'.join(release_table())
    assert {r.timm_hub_id for r in RELEASES} <= set(table.split())
    assert 'hf-hub:timm/convnextv2_huge.fcmae_ft_in22k_in1k_512' in table
    assert 'hf-hub:facebook/convnextv2-tiny-1k-224' in table
    assert 'hf-hub:facebook/convnextv2-huge-22k-512' in table
    assert sum(r.hf_hub_id is not None for r in RELEASES) == 18
