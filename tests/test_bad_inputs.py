"""Bad input to the launchers (train, test, pretrain_fcmae, finetune_imagenet, the demos,
visualize_fcmae, analyze_*) stops in one line before any work, and no run overwrites another.

The table runs through tests/bad_input_harness.py: each case exits non-zero, prints at most 3
lines naming the problem (and the words the case expects), ends within a few seconds, and leaves
every file of the test's data, checkpoints and work dirs byte for byte as it was, creating nothing
(no work dir, no output, no lock). A few cases run again as real subprocesses, which must agree.
The guard cases (a work dir in use, a work dir holding checkpoints) and the one-line end of a run
(an error inside it, Ctrl-C) are real short FCMAE runs.
"""
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest
import torch

from tests.bad_input_harness import REPO, Case, report, run_cases, tree_state

TOY_DET = osp.join(REPO, 'det_configs', 'mask-rcnn_convnextv2-atto_fpn_synthetic-coco.py')
TOY_SEG = osp.join(REPO, 'seg_configs', 'upernet_convnextv2-atto_toy-synthetic-ade20k.py')
TOY_FCMAE = osp.join(REPO, 'pretrain', 'configs', 'fcmae_convnextv2_atto_toy.py')
TOY_FT = osp.join(REPO, 'finetune', 'configs', 'toy', 'finetune_convnextv2_atto_toy.py')
HAS_GPU = torch.cuda.is_available()


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    """Data, checkpoints and configs the cases point at (all watched: none may change)."""
    import backbones  # noqa: F401
    from backbones import ConvNeXtV2
    from downstream.synthetic_coco import make_synthetic_coco
    from finetune.synthetic import make_dataset
    from mmengine.registry import MODELS, init_default_scope
    from pretrain.synthetic import make_image_folder
    from reports.quickstart import data_options
    from engine.preflight import without_init
    from engine.launch import load_config

    root = tmp_path_factory.mktemp('bad_inputs')
    w = {'root': str(root)}
    w['coco'] = str(root / 'coco')
    make_synthetic_coco(w['coco'], num_train=2, num_val=1, image_size=64)
    w['det_opts'] = data_options(w['coco'])
    w['images'] = str(root / 'images')
    make_image_folder(w['images'], num_images=4, size=48, num_classes=2)
    w['imagenet'] = str(root / 'imagenet')
    make_dataset(w['imagenet'], num_classes=8, train_per_class=1, val_per_class=1, size=32)
    w['empty'] = str(root / 'empty')
    os.makedirs(w['empty'])
    w['text'] = str(root / 'notes.pth')
    with open(w['text'], 'w') as f:
        f.write('not a checkpoint\n')
    import pretrain  # noqa: F401
    for name, config, scope in (('det', TOY_DET, 'mmdet'), ('fcmae', TOY_FCMAE, 'mmengine')):
        init_default_scope(scope)   # weights as built (no init_weights): only keys and shapes count
        model = MODELS.build(without_init(load_config(config).model))
        w[f'{name}_ckpt'] = str(root / f'{name}.pth')
        torch.save({'state_dict': model.state_dict()}, w[f'{name}_ckpt'])
    w['femto'] = str(root / 'femto.pth')
    torch.save({'model': ConvNeXtV2('femto').state_dict()}, w['femto'])
    w['syntax'] = str(root / 'broken_config.py')
    with open(w['syntax'], 'w') as f:
        f.write("_base_ = ['%s']\nmodel = dict(\n    backbone=dict(arch='atto'\nfoo = 1\n" % TOY_DET)
    w['nobase'] = str(root / 'no_base.py')
    with open(w['nobase'], 'w') as f:
        f.write("_base_ = ['./missing_base.py']\n")
    w['used'] = str(root / 'used_work_dir')
    os.makedirs(w['used'])
    with open(osp.join(w['used'], 'epoch_3.pth'), 'wb') as f:
        f.write(b'an earlier run\'s checkpoint')
    with open(osp.join(w['used'], 'last_checkpoint'), 'w') as f:
        f.write(osp.join(w['used'], 'epoch_3.pth'))
    w['metrics'] = str(root / 'metrics.json')
    with open(w['metrics'], 'w') as f:
        f.write('{"earlier": 1}\n')
    w['image'] = str(root / 'coco' / 'val2017' / sorted(os.listdir(root / 'coco' / 'val2017'))[0])
    w['not_a_dir'] = w['text'] + '/out'   # under a file: cannot be created, even by root
    return w


def launcher_cases(w):
    """(name, argv, expected words): the table."""
    det = ['tools/train.py', TOY_DET, '--cfg-options', *w['det_opts']]
    det_wd = ['--work-dir', osp.join(w['root'], 'new_det_run')]
    test = ['tools/test.py', TOY_DET, w['det_ckpt'], '--work-dir', osp.join(w['root'], 'new_test'),
            '--cfg-options', *w['det_opts']]
    fc_data = f'train_dataloader.dataset.data_root={w["images"]}'
    fcmae = ['tools/pretrain_fcmae.py', TOY_FCMAE, '--work-dir', osp.join(w['root'], 'new_fcmae')]
    ft = ['tools/finetune_imagenet.py', TOY_FT, '--work-dir', osp.join(w['root'], 'new_ft')]
    ft_data = [*ft, '--data-root', w['imagenet']]
    demo = ['tools/demo_det.py', w['image'], TOY_DET, w['det_ckpt'],
            '--out', osp.join(w['root'], 'new_demo.jpg')]
    vis = ['tools/visualize_fcmae.py', w['fcmae_ckpt'], w['images'],
           '--out', osp.join(w['root'], 'new_vis.png'), '--size', '32', '--num', '1']
    feat = ['tools/analyze_features.py', w['femto'], '--images', w['imagenet'] + '/val',
            '--out', osp.join(w['root'], 'new_features'), '--device', 'cpu']
    cases = [
        # -- train.py: --cfg-options, the model, numbers
        ('train typo max_epoch', [*det, 'train_cfg.max_epoch=2', *det_wd], ['max_epochs']),
        ('train max_epochs=abc', [*det, 'train_cfg.max_epochs=abc', *det_wd], ['int']),
        ('train arch=tiniy', [*det, 'model.backbone.arch=tiniy', *det_wd], ['tiniy']),
        ('train out_indices=(5,)', [*det, 'model.backbone.out_indices=(5,)', *det_wd], ['out_indices']),
        ('train batch size 0', [*det, 'train_dataloader.batch_size=0', *det_wd], ['batch_size']),
        ('train batch size -2', [*det, 'train_dataloader.batch_size=-2', *det_wd], ['batch_size']),
        ('train lr=fast', [*det, 'optim_wrapper.optimizer.lr=fast', *det_wd], ['float']),
        ('train new key', [*det, 'model.backbone.colour=1', *det_wd], ['--allow-new-keys']),
        ('train list index', [*det, 'param_scheduler.9.end=3', *det_wd], ['out of range']),
        # -- train.py: checkpoints
        ('train resume text file', [*det, *det_wd, '--resume', w['text']], [w['text']]),
        ('train resume FCMAE ckpt', [*det, *det_wd, '--resume', w['fcmae_ckpt']], ['does not fit']),
        ('train resume missing', [*det, *det_wd, '--resume', w['root'] + '/nope.pth'], ['no such']),
        ('train init of another size', [*det, 'model.backbone.init_cfg.type=Pretrained',
                                        f'model.backbone.init_cfg.checkpoint={w["femto"]}', *det_wd],
         ['femto']),
        ('train init missing', [*det, 'model.backbone.init_cfg.type=Pretrained',
                                f'model.backbone.init_cfg.checkpoint={w["root"]}/none.pth', *det_wd],
         ['does not exist']),
        # -- train.py: the config, the kind, outputs, the work dir guard
        ('train syntax error', ['tools/train.py', w['syntax'], *det_wd],
         ['broken_config.py line 3']),
        ('train missing config', ['tools/train.py', w['root'] + '/none.py', *det_wd], ['does not exist']),
        ('train missing _base_', ['tools/train.py', w['nobase'], *det_wd], ['missing_base']),
        ('train FCMAE config', ['tools/train.py', TOY_FCMAE, *det_wd], ['pretrain_fcmae.py']),
        ('train finetune config', ['tools/train.py', TOY_FT, *det_wd], ['finetune_imagenet.py']),
        ('train work dir under a file', [*det, '--work-dir', w['not_a_dir']], ['not a folder']),
        ('train work dir is a file', [*det, '--work-dir', w['text']], ['not a folder']),
        ('train into a used work dir', [*det, '--work-dir', w['used']], ['--resume', '--overwrite']),
        # -- test.py
        ('test FCMAE ckpt', ['tools/test.py', TOY_DET, w['fcmae_ckpt'], *test[3:]], ['does not fit']),
        ('test text file ckpt', ['tools/test.py', TOY_DET, w['text'], *test[3:]], [w['text']]),
        ('test typo', [*test, 'test_dataloader.batch_sise=2'], ['batch_size']),
        ('test batch size 0', [*test, 'test_dataloader.batch_size=0'], ['batch_size']),
        ('test metrics-out exists', [*test, '--metrics-out', w['metrics']], ['--force']),
        ('test metrics-out unwritable', [*test, '--metrics-out', w['not_a_dir'] + '.json'],
         ['not a folder']),
        ('test FCMAE config', ['tools/test.py', TOY_FCMAE, w['fcmae_ckpt']], ['pretrain_fcmae.py']),
        # -- pretrain_fcmae.py
        ('fcmae det config', ['tools/pretrain_fcmae.py', TOY_DET, '--work-dir', w['root'] + '/x'],
         ['train.py']),
        ('fcmae missing data', [*fcmae, '--cfg-options',
                                f'train_dataloader.dataset.data_root={w["root"]}/no_images'],
         ['does not exist']),
        ('fcmae empty data', [*fcmae, '--cfg-options',
                              f'train_dataloader.dataset.data_root={w["empty"]}'], ['no images']),
        ('fcmae batch size 0', [*fcmae, '--cfg-options', fc_data, 'train_dataloader.batch_size=0'],
         ['batch_size']),
        ('fcmae typo', [*fcmae, '--cfg-options', fc_data, 'train_cfg.max_epoch=2'], ['max_epochs']),
        ('fcmae arch=tiniy', [*fcmae, '--cfg-options', fc_data, 'model.arch=tiniy'], ['tiniy']),
        ('fcmae resume det ckpt', [*fcmae, '--cfg-options', fc_data, '--resume', w['det_ckpt']],
         ['does not fit']),
        ('fcmae into a used work dir', ['tools/pretrain_fcmae.py', TOY_FCMAE, '--work-dir', w['used'],
                                        '--cfg-options', fc_data], ['--resume']),
        # -- finetune_imagenet.py
        ('finetune eval FCMAE ckpt', [*ft_data, '--eval', w['fcmae_ckpt']], ['does not fit']),
        ('finetune eval text file', [*ft_data, '--eval', w['text']], [w['text']]),
        ('finetune missing data', [*ft, '--data-root', w['root'] + '/no_imagenet'], ['does not exist']),
        ('finetune empty data', [*ft, '--data-root', w['empty']], ['does not exist']),
        ('finetune batch-per-gpu 0', [*ft_data, '--batch-per-gpu', '0'], ['batch_size']),
        ('finetune pretrained femto', [*ft_data, '--pretrained', w['femto']], ['femto']),
        ('finetune pretrained missing', [*ft_data, '--pretrained', w['root'] + '/none.pth'],
         ['does not exist']),
        ('finetune FCMAE config', ['tools/finetune_imagenet.py', TOY_FCMAE], ['pretrain_fcmae.py']),
        ('finetune epochs=abc', [*ft_data, '--cfg-options', 'recipe.epochs=abc'], ['int']),
        # -- the demos
        ('demo_det missing image', ['tools/demo_det.py', w['root'] + '/none.jpg', *demo[2:]],
         ['does not exist']),
        ('demo_det FCMAE ckpt', ['tools/demo_det.py', w['image'], TOY_DET, w['fcmae_ckpt'], *demo[4:]],
         ['does not fit']),
        ('demo_det seg config', ['tools/demo_det.py', w['image'], TOY_SEG, w['det_ckpt'], *demo[4:]],
         ['demo_seg.py']),
        ('demo_det out unwritable', [*demo[:4], '--out', w['not_a_dir'] + '.jpg'], ['not a folder']),
        ('demo_det out exists', [*demo[:4], '--out', w['metrics']], ['--force']),
        ('demo_seg det config', ['tools/demo_seg.py', w['image'], TOY_DET, w['det_ckpt'],
                                 '--out', w['root'] + '/new_seg.png'], ['demo_det.py']),
        # -- visualize_fcmae.py, analyze_*
        ('visualize text ckpt', ['tools/visualize_fcmae.py', w['text'], *vis[2:]], [w['text']]),
        ('visualize size 40', [*vis, '--size', '40'], ['multiple of 32']),
        ('visualize missing images', ['tools/visualize_fcmae.py', w['fcmae_ckpt'], w['root'] + '/no',
                                      *vis[3:]], ['no']),
        ('visualize out unwritable', [*vis, '--out', w['not_a_dir'] + '.png'], ['not a folder']),
        ('visualize out exists', [*vis, '--out', w['metrics']], ['--force']),
        ('features out not empty', [*feat, '--out', w['coco']], ['--force']),
        ('features batch size 0', [*feat, '--batch-size', '0'], ['--batch-size']),
        ('features text ckpt', ['tools/analyze_features.py', w['text'], *feat[2:]], [w['text']]),
        ('features missing images', [*feat[:2], '--images', w['root'] + '/no', *feat[4:]], ['no']),
        ('complexity arch=tiniy', ['tools/analyze_complexity.py', TOY_DET, '--cfg-options',
                                   'model.backbone.arch=tiniy'], ['tiniy']),
        ('complexity FCMAE config', ['tools/analyze_complexity.py', TOY_FCMAE], ['pretrain_fcmae.py']),
        ('complexity syntax error', ['tools/analyze_complexity.py', w['syntax']],
         ['broken_config.py line 3']),
    ]
    if not HAS_GPU:
        cases += [('train --amp without GPU', [*det, *det_wd, '--amp'], ['GPU']),
                  ('demo_det --device cuda', [*demo, '--device', 'cuda'], ['--device cpu'])]
    return cases


REAL = ('train into a used work dir', 'finetune eval FCMAE ckpt')


def test_launchers_stop_bad_input_in_one_line(world):
    cases = [Case(name, argv, watch=[world['root']], expect=expect)
             for name, argv, expect in launcher_cases(world)]
    assert len(cases) >= 55
    results = run_cases(cases, osp.join(world['root'], 'cwd'), real=REAL, workers=2, timeout=600)
    assert not report(results), report(results)


def test_the_harness_fails_what_it_must(tmp_path):
    """Each way of handling bad input badly is caught (and agreement is checked)."""
    tools = {'good': "import sys; print('error: x is wrong; use y', file=sys.stderr); sys.exit(2)",
             'zero': "print('error: but exit status 0')",
             'traceback': "raise ValueError('deep')",
             'noisy': "import os, sys, warnings\nwarnings.warn('w')\nos.write(2, b'C level\\n')\n"
                      "print('error: x')\nsys.exit(1)",
             'writes': "import os, sys\nos.makedirs('work_dirs/run')\nsys.exit('error: refused')",
             'changes': f"open({str(tmp_path / 'data.txt')!r}, 'a').write('x')\nraise SystemExit(2)",
             'slow': "import time\ntime.sleep(20)"}
    for name, code in tools.items():   # half of them as the tools are: main() under a guard
        if name in ('good', 'traceback', 'writes'):
            code = 'def main():\n' + ''.join(f'    {line}\n' for line in code.splitlines()) + \
                "if __name__ == '__main__':\n    main()"
        (tmp_path / f'{name}.py').write_text(code + '\n')
    (tmp_path / 'data.txt').write_text('data')
    cases = [Case(name, [str(tmp_path / f'{name}.py')], watch=[str(tmp_path / 'data.txt')],
                  max_seconds=1) for name in tools]
    cases.append(Case('unnamed', [str(tmp_path / 'good.py')], expect=['not said']))
    results = {r.name: r for r in run_cases(cases, str(tmp_path / 'cwd'), real=('good', 'noisy'))}
    assert results['good'].problems == []
    expected = {'zero': 'exit status 0', 'traceback': 'lines on the screen',
                'noisy': 'lines on the screen', 'writes': 'created', 'changes': 'changed',
                'slow': 'timeout', 'unnamed': 'does not name'}
    for name, problem in expected.items():
        assert any(problem in p for p in results[name].problems), (name, results[name].problems)
    assert results['noisy'].real['code'] == 1 and results['noisy'].code == 1


# -- real short runs: the work dir guard and the one-line end of a run ----------------------------
# The first run is a process of its own; the others run in this process (tools/pretrain_fcmae.py's
# main, as tests/test_fcmae_training.py does) to spare an interpreter start each, the screen read
# at the file descriptors (capfd).
def _fcmae(world, work_dir, *extra, epochs=1):
    return [TOY_FCMAE, '--work-dir', work_dir, *extra, '--cfg-options',
            f'train_dataloader.dataset.data_root={world["images"]}', 'train_dataloader.batch_size=2',
            'train_dataloader.num_workers=0', 'train_dataloader.dataset.img_size=32',
            f'train_cfg.max_epochs={epochs}', 'default_hooks.checkpoint.interval=1',
            'default_hooks.logger.interval=1', f'experiment_name=bad-inputs-{uuid.uuid4().hex}']


def _in_process(argv, capfd):
    """(exit status, screen lines, stdout) of pretrain_fcmae.py's main in this process. The loggers
    the run made are dropped after it: their handlers write to this test's captured streams, which
    close with the test (a later test's log line would end in "Logging error")."""
    from mmengine.logging import MMLogger

    from tools import pretrain_fcmae as pretrain_tool
    before = set(MMLogger._instance_dict)
    capfd.readouterr()
    try:
        pretrain_tool.main(argv)
        code = 0
    except SystemExit as stop:
        code = stop.code
    finally:
        for name in set(MMLogger._instance_dict) - before:
            logger = MMLogger._instance_dict.pop(name)
            for handler in list(logger.handlers):
                handler.close()
                logger.removeHandler(handler)
    out, err = capfd.readouterr()
    return code, [line for line in (out + err).splitlines() if line.strip()], out, err


def test_a_second_run_and_a_fresh_run_do_not_touch_a_work_dir(world, tmp_path, capfd):
    """Run 1 holds the work dir (its lock): run 2 into it stops in one line. Ctrl-C ends run 1 with
    one line naming its last complete checkpoint. A fresh run into the dir then refuses in one line,
    its files unchanged; a lock left by a dead process is taken over with a line saying so, and
    --resume continues the run."""
    work_dir = str(tmp_path / 'run')
    lock = osp.join(work_dir, '.run.lock')
    screen = open(tmp_path / 'first_stdout.txt', 'w'), open(tmp_path / 'first_stderr.txt', 'w')
    first = subprocess.Popen([sys.executable, osp.join(REPO, 'tools', 'pretrain_fcmae.py'),
                              *_fcmae(world, work_dir, epochs=30)], cwd=REPO, stdout=screen[0],
                             stderr=screen[1], env={**os.environ, 'OMP_NUM_THREADS': '1'})
    try:
        _wait_for(lock, first)
        code, lines, _, err = _in_process(_fcmae(world, work_dir), capfd)
        assert first.poll() is None, 'the first run ended before the second one was judged'
        assert code != 0 and len(lines) <= 3, lines
        assert f'another run (PID {first.pid})' in err
        _wait_for(osp.join(work_dir, 'last_checkpoint'), first)
        first.send_signal(signal.SIGINT)
    finally:
        first.wait(timeout=120)
        for f in screen:
            f.close()
    err = (tmp_path / 'first_stderr.txt').read_text()
    assert first.returncode == 130, err[-3000:]
    assert 'Traceback' not in err
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last.startswith('interrupted: the last complete checkpoint is ') and '--resume' in last
    named = last.split(' is ', 1)[1].split(';')[0]
    assert osp.isfile(named) and osp.dirname(named) == work_dir, last
    assert not osp.exists(lock)

    before = tree_state(work_dir)
    code, lines, _, err = _in_process(_fcmae(world, work_dir), capfd)
    assert code != 0 and len(lines) <= 3, lines
    assert '--resume' in err and '--overwrite' in err
    assert tree_state(work_dir) == before

    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait(timeout=60)
    with open(lock, 'w') as f:
        f.write(f'pid={dead.pid} host={socket.gethostname()}\n')
    epochs = int(osp.basename(named)[len('epoch_'):-len('.pth')]) + 1
    code, _, out, err = _in_process(_fcmae(world, work_dir, '--resume', epochs=epochs), capfd)
    assert code == 0, err[-3000:]
    assert f'taking over the stale run lock {lock} (PID {dead.pid}' in out
    assert osp.isfile(osp.join(work_dir, f'epoch_{epochs}.pth')) and not osp.exists(lock)


def _wait_for(path, run, seconds=150):
    deadline = time.monotonic() + seconds
    while not osp.exists(path):
        assert run.poll() is None, f'the run ended (status {run.returncode})'
        assert time.monotonic() < deadline, f'{path} did not appear'
        time.sleep(0.1)


def test_an_error_inside_the_run_is_one_line_with_the_traceback_in_the_log(world, tmp_path, capfd):
    """A dataset setting that fails only when the Runner builds the dataloader (the preflight does
    not build datasets): one line on the screen, the traceback in the run's log."""
    argv = _fcmae(world, str(tmp_path / 'run'), '--allow-new-keys')
    code, _, out, err = _in_process(argv + ['train_dataloader.dataset.scale=(0.9,)'], capfd)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1, err[-2000:]
    assert lines[-1].startswith('error: the run failed: ') and 'traceback in ' in lines[-1], lines[-3:]
    assert 'Traceback (most recent call last)' not in out + err
    log = lines[-1].rsplit('traceback in ', 1)[1].rstrip(')')
    assert osp.isfile(log) and 'Traceback (most recent call last)' in open(log).read()


def test_cfg_option_types_a_number_for_a_number_a_word_refused():
    """drop_path_rate=0 in a config takes --cfg-options ...drop_path_rate=0.1; a word or a list
    does not replace a number, nor a number a flag."""
    from engine.preflight import _type_change
    assert _type_change(0, 0.1) is None and _type_change(1e-4, 2) is None
    assert 'int' in _type_change(8, 'abc') and 'bool' in _type_change(True, 1)
    assert _type_change((1, 2), 3) is not None
