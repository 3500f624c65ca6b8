"""The whole chain of the embedded default, tiny, through tools/check_chain.py: toy FCMAE pretrain ->
convert -> finetune -> export -> the det and seg toy configs initialise their backbone from the
exported file (check_chain checks every tensor)."""
import glob
import json
import os
import shutil

import pytest
import torch

from backbones.checkpoints.load import read_checkpoint
from tools import check_chain
from finetune.synthetic import make_dataset


@pytest.fixture(scope='module')
def chain(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('chain')
    data = str(tmp / 'imagenet')
    make_dataset(data, num_classes=3, train_per_class=16, val_per_class=2, size=64)
    with pytest.raises(SystemExit) as exit_info:
        check_chain.main(['--work-dir', str(tmp / 'work'), '--data-root', data,
                        '--fcmae-epochs', '2', '--finetune-epochs', '1', '--min-gain', '90'])
    return tmp / 'work', exit_info.value.code


def newest_log(work_dir):
    return open(sorted(glob.glob(os.path.join(work_dir, '*', '*.log')))[-1]).read()


def test_chain_runs_and_reports(chain):
    """Every step ran; one epoch cannot beat chance by the 90 points asked, so the verdict fails."""
    work, code = chain
    result = json.loads((work / 'chain_result.json').read_text())
    assert code == 1 and result['ok'] is False
    assert result['chance'] == pytest.approx(100 / 3) and len(result['top1']) == 1
    assert len(result['fcmae_loss']) == 2 and all(v > 0 for v in result['fcmae_loss'])


def test_finetune_started_from_the_converted_fcmae_weights(chain):
    work, _ = chain
    converted = work / 'convnextv2_atto_fcmae_backbone.pth'
    assert f'classifier: loaded {converted}' in newest_log(work / 'finetune')
    fcmae = read_checkpoint(str(work / 'fcmae' / 'epoch_2.pth'))['state_dict']
    weights = torch.load(str(converted), weights_only=True)
    assert torch.equal(weights['stages.1.0.pwconv1.weight'],
                       fcmae['encoder.stages.1.0.pwconv1.weight'])


def test_export_holds_the_ema_weights(chain):
    work, _ = chain
    finetuned = read_checkpoint(str(work / 'finetune' / 'epoch_1.pth'))
    exported = torch.load(str(work / 'convnextv2_atto_1k_224_backbone.pth'),
                          weights_only=True)['state_dict']
    key = 'stages.3.1.pwconv2.weight'
    # mmengine's EMAHook saves the EMA weights as state_dict and the raw ones as ema_state_dict
    assert torch.equal(exported[key], finetuned['state_dict'][f'backbone.{key}'])
    assert not torch.equal(finetuned['state_dict'][f'backbone.{key}'],
                           finetuned['ema_state_dict'][f'module.backbone.{key}'])



@pytest.mark.parametrize('above', [True, False])
def test_verdict_passes_and_fails_on_each_side_of_the_measured_gain(chain, above, tmp_path,
                                                                  monkeypatch, capsys):
    """check_chain's PASS path and its FAIL path on the same real run: main again on a copy of its
    work dir with the steps' commands already done (run_tool does nothing), a margin 0.5 points
    below the gain it measured (exit 0) and 0.5 points above (exit 1)."""
    work, _ = chain
    result = json.loads((work / 'chain_result.json').read_text())
    gain = result['top1'][-1] - result['chance']
    replay = tmp_path / 'work'
    shutil.copytree(work, replay)
    monkeypatch.setattr(check_chain, 'run_tool', lambda *args, **kwargs: None)
    margin = gain - 0.5 if above else gain + 0.5
    with pytest.raises(SystemExit) as exit_info:
        check_chain.main(['--work-dir', str(replay), '--data-root', str(work.parent / 'imagenet'),
                          '--fcmae-epochs', '2', '--finetune-epochs', '1', '--min-gain', str(margin)])
    replayed = json.loads((replay / 'chain_result.json').read_text())
    printed = capsys.readouterr().out
    assert replayed['top1'] == result['top1']
    if above:
        assert exit_info.value.code == 0 and replayed['ok'] is True
        assert 'finetuned top-1 is clearly above chance' in printed
    else:
        assert exit_info.value.code == 1 and replayed['ok'] is False
        assert 'finetuned top-1 is NOT clearly above chance' in printed
