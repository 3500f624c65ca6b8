"""The benchmark tool runs end to end and reports ratios against its peers (timings are not tested)."""
import json

from tools.benchmark import main


def test_benchmark_backbone_and_fcmae_rows_on_cpu(tmp_path):
    rows = main(['--device', 'cpu', '--rows', 'backbone,fcmae', '--sizes', 'atto', '--fcmae-sizes', 'atto',
                 '--batch', '2', '--resolution', '64', '--warmup', '1', '--iters', '1', '--repeats', '1',
                 '--no-compile', '--out', str(tmp_path)])
    assert [r['case'] for r in rows] == ['backbone atto eager', 'fcmae atto sparse']
    assert all(r['speedup'] > 0 and r['img_per_s'] > 0 for r in rows)
    logit_gap = float(rows[0]['note'].split()[-1])
    assert logit_gap < 1e-4   # same weights, same numbers as timm
    saved = json.loads((tmp_path / 'benchmark.json').read_text())
    assert len(saved['rows']) == 2 and (tmp_path / 'benchmark.md').read_text().count('\n| ') == 3
