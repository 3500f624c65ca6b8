"""Guards that keep a user (and CI) out of trouble: no unsafe unpickling, no subprocess without a
timeout, a hung tool step is stopped, a broken mmdet import is named, a refused pickle global
is explained, and ``--amp`` without a GPU stops every entry point the same way."""
import ast
import glob
import os
import re
import subprocess
import sys

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_DIRS = ('engine', 'backbones', 'pretrain', 'finetune', 'downstream', 'analysis', 'tools',
               'tests', 'det_configs', 'seg_configs')
SUBPROCESS_CALLS = {'run', 'call', 'check_call', 'check_output'}


def source_files():
    for folder in SOURCE_DIRS:
        yield from glob.glob(os.path.join(REPO, folder, '**', '*.py'), recursive=True)


def calls(path):
    tree = ast.parse(open(path).read(), path)
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def keyword(call, name):
    return next((k.value for k in call.keywords if k.arg == name), None)


def where(path, node):
    return f'{os.path.relpath(path, REPO)}:{node.lineno}'


def test_nothing_loads_with_weights_only_false():
    unsafe = [where(path, call) for path in source_files() for call in calls(path)
              if isinstance(keyword(call, 'weights_only'), ast.Constant)
              and keyword(call, 'weights_only').value is False]
    assert not unsafe, f'weights_only=False bypasses the allow-list: {unsafe}'


def waits_with_timeout(function):
    """Whether ``function`` calls ``.communicate(timeout=...)`` or ``.wait(timeout=...)``."""
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
               and node.func.attr in ('communicate', 'wait') and keyword(node, 'timeout') is not None
               for node in ast.walk(function))


def test_every_subprocess_has_a_timeout():
    missing = []
    for path in source_files():
        tree = ast.parse(open(path).read(), path)
        functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
        for call in calls(path):
            func = call.func
            if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
                continue
            if func.value.id == 'subprocess' and func.attr == 'Popen':
                # a Popen (to signal the child) is fine if its function waits with a timeout,
                # or its class does (a process object started in __init__, ended in a method)
                owner = [f for f in functions if f.lineno <= call.lineno <= f.end_lineno]
                owner_class = [c for c in classes if c.lineno <= call.lineno <= c.end_lineno]
                if not ((owner and waits_with_timeout(owner[-1]))
                        or (owner_class and waits_with_timeout(owner_class[-1]))):
                    missing.append(where(path, call) + ' (Popen never waited on with a timeout)')
            elif func.value.id == 'subprocess' and func.attr in SUBPROCESS_CALLS \
                    and keyword(call, 'timeout') is None:
                missing.append(where(path, call))
            elif func.value.id == 'os' and func.attr in ('system', 'popen'):
                missing.append(where(path, call) + f' (os.{func.attr} has no timeout)')
    assert not missing, f'subprocesses without a timeout: {missing}'


def test_a_hung_tool_step_is_stopped_with_one_line(tmp_path, capsys):
    from reports.commands import run_tool
    hangs = tmp_path / 'hangs.py'
    hangs.write_text('import time\ntime.sleep(20)\n')
    with pytest.raises(SystemExit) as exit_info:
        run_tool(str(hangs), timeout=1)   # an absolute path replaces tools/
    assert f'{hangs} ran past 1 s and was stopped' in str(exit_info.value.code)


def test_broken_mmdet_import_is_named():
    """backbones builds its layer-decay constructor on mmdet's: a broken mmdet is named, once."""
    broken = ("import sys; sys.modules['mmdet.engine.optimizers.layer_decay_optimizer_constructor'] "
              "= None; import backbones")
    done = subprocess.run([sys.executable, '-c', broken], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert re.search(r'cannot import mmdet\.engine\.optimizers\.layer_decay_optimizer_constructor .*'
                     r'mmdet is required - run bash tools/install.sh', done.stderr), done.stderr[-800:]


def test_mmdet_and_mmseg_find_the_backbone_and_constructor_in_the_root_registries():
    """Registered once, in mmengine's root registries: the scoped children fall back to them."""
    import backbones
    from mmdet.registry import MODELS as DET_MODELS
    from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS as DET_CONSTRUCTORS
    from mmseg.registry import MODELS as SEG_MODELS
    from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS as SEG_CONSTRUCTORS
    for registry in (DET_MODELS, SEG_MODELS):
        assert registry.get('ConvNeXtV2') is backbones.ConvNeXtV2
    for registry in (DET_CONSTRUCTORS, SEG_CONSTRUCTORS):
        assert registry.get('ConvNeXtV2LayerDecayOptimizerConstructor') is \
            backbones.ConvNeXtV2LayerDecayOptimizerConstructor


def test_refused_pickle_global_names_the_type_and_the_fix(tmp_path):
    from fractions import Fraction

    from backbones.checkpoints.load import CheckpointError, read_checkpoint
    path = tmp_path / 'pickled.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': {'ratio': Fraction(1, 3)}}, path)
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(str(path))
    message = str(err.value)
    assert 'holds a pickled fractions.Fraction' in message
    assert 'add_safe_globals([fractions.Fraction])' in message and 'convert the file' in message
    assert 'corrupt' not in message and 'download' not in message and '\n' not in message


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)


@pytest.mark.parametrize('tool, config', [
    ('train', 'det_configs/mask-rcnn_convnextv2-atto_fpn_synthetic-coco.py'),
    ('train', 'seg_configs/upernet_convnextv2-atto_toy-synthetic-ade20k.py'),
    ('finetune_imagenet', 'finetune/configs/toy/finetune_convnextv2_atto_toy.py'),
])
def test_amp_without_a_gpu_stops_with_one_line(tool, config, tmp_path, no_gpu, capsys):
    module = __import__(f'tools.{tool}', fromlist=['main'])
    extra = ['--data-root', str(tmp_path / 'none')] if tool == 'finetune_imagenet' else []
    with pytest.raises(SystemExit) as exit_info:
        module.main([os.path.join(REPO, config), '--amp', '--work-dir', str(tmp_path / 'w'), *extra])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == 'error: --amp needs a CUDA GPU and none is visible; drop --amp to train in fp32'
    assert not (tmp_path / 'w').exists()


def test_pretrain_has_no_amp_switch(capsys):
    """The FCMAE configs choose bf16 AMP themselves (fp32 without a GPU): no --amp to misread."""
    from tools import pretrain_fcmae
    with pytest.raises(SystemExit):
        pretrain_fcmae.main(['pretrain/configs/fcmae_convnextv2_atto_toy.py', '--amp'])
    assert 'unrecognized arguments: --amp' in capsys.readouterr().err
