"""The benchmark tool runs end to end, its rows are consistent, and it refuses to time two models
that do not compute the same function (timings themselves are not tested)."""
import json

import pytest

from reports import training_speed as benchmark
from tools.benchmark import main

QUICK = ['--device', 'cpu', '--sizes', 'atto', '--fcmae-sizes', 'atto', '--batch', '2',
         '--resolution', '64', '--warmup', '1', '--iters', '1', '--repeats', '1', '--no-compile']


def test_benchmark_backbone_and_fcmae_rows_on_cpu(tmp_path):
    rows = main(['--rows', 'backbone,fcmae', *QUICK, '--out', str(tmp_path)])
    assert [r['case'] for r in rows] == ['backbone atto eager', 'fcmae atto sparse']
    for r in rows:   # the ratio is the peer's time over ours, i.e. our img/s over the peer's
        assert r['speedup'] == pytest.approx(r['img_per_s'] / r['peer_img_per_s'])
    logit_gap = float(rows[0]['note'].split()[-1])
    assert logit_gap < 1e-10   # same weights (GRN non-zero), float64: the same computation
    saved = json.loads((tmp_path / 'benchmark.json').read_text())
    assert len(saved['rows']) == 2 and (tmp_path / 'benchmark.md').read_text().count('\n| ') == 3


def test_paired_models_exercise_grn():
    ours, _ = benchmark.paired_classifiers('atto', 'cpu')
    gammas = [p for n, p in ours.named_parameters() if n.endswith('.grn.gamma')]
    assert gammas and all(g.abs().min() > 0 for g in gammas)


def test_benchmark_stops_when_the_peer_computes_something_else(tmp_path, monkeypatch, capsys):
    """A layout bug that swaps GRN's gamma and beta on the timm side must stop the benchmark."""
    real_to_timm = benchmark.to_timm

    def swapped_grn(weights, conv_mlp=False):
        out = real_to_timm(weights, conv_mlp)
        for key in [k for k in out if k.endswith('.mlp.grn.weight')]:
            bias = key[:-len('weight')] + 'bias'
            out[key], out[bias] = out[bias].clone(), out[key].clone()
        return out
    monkeypatch.setattr(benchmark, 'to_timm', swapped_grn)
    with pytest.raises(SystemExit) as exit_info:
        main(['--rows', 'backbone', *QUICK, '--out', str(tmp_path)])
    assert exit_info.value.code == 1
    assert 'are not the same computation' in capsys.readouterr().err
    assert not (tmp_path / 'benchmark.json').exists()
