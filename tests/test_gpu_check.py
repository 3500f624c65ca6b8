"""tools/gpu_check.py on the CPU at toy sizes (issue 27): every row present and written, a NaN
injected into one run fails the check naming that run and only that run, the budget skips what
does not fit, a missing config is a clean row, and the 2-process DDP (gloo) path trains.
Timings are not tested; losses and the table's arithmetic are."""
import json
import os
import subprocess
import sys

import pytest

from reports import gpu_check, gpu_runs
from tools.gpu_check import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = ['--device', 'cpu', '--size', 'femto', '--det-resolution', '128', '--seg-resolution', '64',
       '--resolution', '64', '--batch', '2', '--rois', '16', '--warmup', '0', '--iters', '1']


def run_tool(args, timeout):
    path = os.pathsep.join(filter(None, [REPO, os.environ.get('PYTHONPATH')]))
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=path)
    return subprocess.run([sys.executable, 'tools/gpu_check.py', *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope='session')
def toy_check(tmp_path_factory):
    """Every run eager, the finetune also compiled (aot_eager: no C++ code generation on the CPU),
    with a NaN injected into UperNet's loss."""
    out = tmp_path_factory.mktemp('gpu_check')
    done = run_tool([*TOY, '--compile', 'finetune', '--compile-backend', 'aot_eager',
                     '--inject-nan', 'upernet', '--out', str(out)], timeout=300)
    return done, json.loads((out / 'gpu_check.json').read_text()), (out / 'gpu_check.md').read_text()


def test_every_row_is_present_and_written(toy_check):
    _, saved, table = toy_check
    names = [gpu_check.row_name(r) for r in saved['rows']]
    assert names == [f'{run} femto eager' for run in gpu_runs.RUNS] + ['finetune femto compiled']
    assert table.count('\n| ') == len(names) + 1   # header row + one per run
    cascade = saved['rows'][1]
    cascade_cfg = os.path.join(REPO, gpu_runs.CONFIGS['cascade-mask-rcnn'].format(size='femto'))
    assert cascade['status'] == ('ok' if os.path.exists(cascade_cfg) else 'config missing')


def test_healthy_rows_train_with_finite_losses_in_fp32(toy_check):
    _, saved, _ = toy_check
    healthy = [r for r in saved['rows'] if r['run'] not in ('upernet', 'cascade-mask-rcnn')]
    for row in healthy:
        assert row['status'] == 'ok', row
        assert row['dtype'] == 'fp32' and row['iters'] == 1 and row['world'] == 1   # no GPU: fp32
        assert row['img_per_s'] == pytest.approx(row['batch'] / row['s_per_iter'])
        assert row['config'].startswith(('det_configs/', 'pretrain/configs/', 'finetune/configs/'))
    finetune = healthy[-1]   # femto's recipe (Table 9): mixup 0.3, EMA
    assert finetune['compiled'] and 'mixup 0.3' in finetune['note'] and 'EMA on' in finetune['note']


def test_injected_nan_fails_the_check_naming_that_run(toy_check):
    done, saved, _ = toy_check
    upernet = next(r for r in saved['rows'] if r['run'] == 'upernet')
    assert upernet['status'] == 'failed' and 'loss not finite at iteration 1' in upernet['note']
    assert done.returncode == 1, done.stderr[-2000:]
    closing = done.stderr.strip().splitlines()[-1]
    assert closing.startswith('gpu_check: 1 of 6 runs failed: upernet femto eager (loss not finite')


def test_budget_skips_what_does_not_fit_and_a_missing_config_is_a_row(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(gpu_runs.CONFIGS, 'fcmae', 'pretrain/configs/no_such_{size}.py')
    code = main([*TOY, '--runs', 'fcmae,finetune', '--budget-s', '0', '--out', str(tmp_path)])
    rows = json.loads((tmp_path / 'gpu_check.json').read_text())['rows']
    assert code == 0 and [r['status'] for r in rows] == ['config missing', 'skipped']
    assert 'no_such_femto.py' in rows[0]['note'] and '--budget-s 0' in rows[1]['note']
    assert 'skipped by --budget-s: finetune femto eager' in capsys.readouterr().out


def test_options_are_checked_before_anything_runs(tmp_path, capsys):
    for bad in (['--runs', 'maskrcnn'], ['--compile', 'fcmae'], ['--resolution', '100'],
                ['--iters', '0']):
        with pytest.raises(SystemExit) as stop:
            main([*TOY, *bad, '--out', str(tmp_path)])
        assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "unknown run 'maskrcnn'" in err and "unknown compilable run 'fcmae'" in err
    assert 'multiple of 32' in err and 'must be at least 1, not 0' in err
    assert len(err.strip().splitlines()) == 4   # one line each
    assert not os.listdir(tmp_path)


def test_ddp_two_processes_on_gloo(tmp_path):
    done = run_tool([*TOY, '--ddp', '2', '--runs', 'upernet,finetune', '--out', str(tmp_path)],
                    timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads((tmp_path / 'gpu_check.json').read_text())['rows']
    for row in rows:
        assert row['status'] == 'ok' and row['world'] == 2 and 'DDP gloo' in row['note'], row
        assert row['img_per_s'] == pytest.approx(2 * row['batch'] / row['s_per_iter'])
    assert 'SyncBN -> BN' in rows[0]['note'] and 'SyncBN' not in rows[1]['note']   # no CPU SyncBN


def test_compiled_rows_switch_the_backbone_of_the_real_config():
    """``--compile`` reaches every compilable run's backbone through its config (the finetune's
    classifier included), and the dtype is the config's AMP turned fp32 on a CPU."""
    for run in gpu_runs.COMPILABLE:
        job = gpu_runs.build_job(run, 'atto', 'cpu', 64, 2, dict(backend='aot_eager'), rois=16)
        backbone = job.model.backbone
        assert backbone.compile_options == dict(backend='aot_eager'), run
        assert job.dtype == 'fp32' and job.config.endswith('.py')
