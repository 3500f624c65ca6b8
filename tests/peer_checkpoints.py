"""Checkpoints written by the peers' own code - timm, transformers, mmpretrain - with random
weights (GRN and norms made non-trivial), and each peer's own float64 stage outputs for one input.

Nothing here uses our model or our key maps: these are the files a user of those libraries has.
mmpretrain runs in a process of its own, one for the test session (``run_mmpretrain``):
``python -m tests.peer_checkpoints mmpretrain OUT_DIR`` writes its checkpoints, ``... mmpretrain-load
CKPT OUT`` loads one with mmpretrain's init_cfg (``serve`` reads such lines from stdin).
"""
import atexit
import json
import os
import os.path as osp
import select
import subprocess
import sys

import torch

NO_PEERS = ('transformers (a test-only peer) is not installed: run bash tools/run_tests.sh, which '
            'installs requirements-test.txt')

# ConvNeXt V2-atto (paper Appendix A.1), written out so that no fixture reads our size table.
ATTO_DEPTHS, ATTO_DIMS = (2, 2, 6, 2), (40, 80, 160, 320)
CLASSES = 10
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def peer_input():
    return torch.randn((2, 3, 64, 96), generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def randomize(model, seed=0):
    """Add noise to every parameter: GRN starts at zero and norms at (1, 0) in every peer."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.2 * torch.randn(param.shape, generator=gen))
    return model.eval()


def stage_outputs(model, stages, x):
    """The outputs of the modules ``stages`` (raw, before any output norm), by forward hooks."""
    found = {}
    handles = [stage.register_forward_hook(lambda m, i, o, n=n: found.__setitem__(n, o))
               for n, stage in enumerate(stages)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return [found[n] for n in range(len(stages))]


# -- timm -----------------------------------------------------------------------------------------
def timm_model(num_classes=CLASSES, seed=0):
    import timm
    return randomize(timm.create_model('convnextv2_atto', pretrained=False, num_classes=num_classes),
                     seed)


def timm_folder(folder, safe=True, seed=0):
    """timm's hub folder (``save_for_hf``: model.safetensors or pytorch_model.bin + config.json);
    returns the model's float64 stage outputs."""
    from timm.models import save_for_hf
    model = timm_model(seed=seed)
    save_for_hf(model, str(folder), safe_serialization=safe)
    model = model.double()
    return stage_outputs(model, list(model.stages), peer_input())


# -- transformers ---------------------------------------------------------------------------------
def hf_config(**kwargs):
    from transformers import ConvNextV2Config
    return ConvNextV2Config(depths=list(ATTO_DEPTHS), hidden_sizes=list(ATTO_DIMS), **kwargs)


def hf_model(classifier=True, seed=0):
    from transformers import ConvNextV2ForImageClassification, ConvNextV2Model
    if classifier:
        return randomize(ConvNextV2ForImageClassification(hf_config(num_labels=CLASSES)), seed)
    return randomize(ConvNextV2Model(hf_config()), seed)


def hf_stage_outputs(model):
    with torch.no_grad():
        return list(model.double()(peer_input(), output_hidden_states=True).hidden_states[1:])


def hf_folder(folder, classifier=True, seed=0, **save_kwargs):
    """transformers' own ``save_pretrained`` folder; returns the model's float64 stage outputs."""
    model = hf_model(classifier, seed)
    model.save_pretrained(str(folder), **save_kwargs)
    return hf_stage_outputs(model)


# -- mmpretrain -----------------------------------------------------------------------------------
def without_transformers():
    """mmpretrain 1.2 defines its multimodal models when it finds transformers >= 4.28, and those
    fail to import beside transformers 5; in the mmpretrain process transformers is made absent
    (its distribution not found, its import refused), as on a machine without it."""
    import importlib_metadata
    found = importlib_metadata.distribution

    def distribution(name):
        if name == 'transformers':
            raise importlib_metadata.PackageNotFoundError(name)
        return found(name)

    importlib_metadata.distribution = distribution
    sys.modules['transformers'] = None


def mmpretrain_classifier(detection=False, seed=0):
    """mmpretrain's ImageClassifier with ``ConvNeXt(arch='atto', use_grn=True,
    layer_scale_init_value=0.)``: its own default classifier (norm3 after pooling), or with
    ``detection`` the backbone as mmdet's ConvNeXt-V2 project builds it (norm0..3 on the maps)."""
    from mmpretrain.registry import MODELS
    from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    backbone = dict(type='ConvNeXt', arch='atto', use_grn=True, layer_scale_init_value=0.)
    neck = None   # mmpretrain's convnext_v2 configs: the backbone pools, then norm3
    if detection:
        backbone.update(out_indices=(0, 1, 2, 3), gap_before_final_norm=False)
        neck = dict(type='GlobalAveragePooling')
    model = MODELS.build(dict(type='ImageClassifier', backbone=backbone, neck=neck,
                              head=dict(type='LinearClsHead', num_classes=CLASSES,
                                        in_channels=ATTO_DIMS[-1])))
    return randomize(model, seed)


def write_mmpretrain(out_dir):
    """The mmpretrain checkpoints (as its Runner saves them: ``{'meta', 'state_dict'}``) and the
    peer's float64 outputs next to them, in ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    outputs = {}
    for name in ('classifier', 'detection', 'fcmae'):
        model = mmpretrain_classifier(detection=name == 'detection', seed=1)
        state = model.state_dict()
        if name == 'fcmae':   # a converted FCMAE encoder: no classifier, no output norm
            state = {k: v for k, v in state.items() if not k.startswith(('head.', 'backbone.norm'))}
        torch.save({'meta': {'peer': 'mmpretrain'}, 'state_dict': state},
                   osp.join(out_dir, f'{name}.pth'))
        model = model.double()
        outputs[name] = stage_outputs(model, list(model.backbone.stages), peer_input())
        if name == 'detection':
            with torch.no_grad():
                outputs['detection_normed'] = list(model.backbone(peer_input()))
    torch.save(outputs, osp.join(out_dir, 'outputs.pth'))


def mmpretrain_outputs_of(checkpoint, out):
    """Load ``checkpoint`` into mmpretrain's ImageClassifier with its own init_cfg; save the float64
    stage outputs and logits to ``out``."""
    model = mmpretrain_classifier()
    model.init_cfg = dict(type='Pretrained', checkpoint=checkpoint)
    model.init_weights()
    model = model.double().eval()
    x = peer_input()
    stages = stage_outputs(model, list(model.backbone.stages), x)
    with torch.no_grad():
        logits = model(x, mode='tensor')
    torch.save({'stages': stages, 'logits': logits}, out)


class _Mmpretrain:
    """One mmpretrain process for the whole test session (importing it costs seconds): it reads
    commands, one a line, answers ``ok`` or ``error ...``; every answer is waited for with a
    timeout, and the process is told to quit (and waited for) when the session ends."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'tests.peer_checkpoints', 'serve'], cwd=REPO, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, 'OMP_NUM_THREADS': '1'})
        atexit.register(self.close)

    def call(self, *args, timeout=300):
        self.proc.stdin.write(' '.join(map(str, args)) + '\n')
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        answer = self.proc.stdout.readline().strip() if ready else f'error: no answer in {timeout} s'
        if not answer and self.proc.poll() is not None:   # e.g. mmpretrain not installed: see stderr
            answer = f'error: the mmpretrain process exited with {self.proc.returncode} (its stderr above)'
        if answer != 'ok':
            raise RuntimeError(f'mmpretrain {args[0]}: {answer}')

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write('quit\n')
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=30)


_WORKER = []


def start_mmpretrain():
    """Start the session's mmpretrain process (it imports while the caller goes on)."""
    if not _WORKER:
        _WORKER.append(_Mmpretrain())
    return _WORKER[0]


def run_mmpretrain(*args, timeout=300):
    """Run a command of ``serve`` in the session's mmpretrain process."""
    start_mmpretrain().call(*args, timeout=timeout)


def serve():
    """Answer ``mmpretrain OUT_DIR`` / ``mmpretrain-load CKPT OUT`` lines until ``quit``."""
    commands = {'mmpretrain': write_mmpretrain, 'mmpretrain-load': mmpretrain_outputs_of}
    answers, sys.stdout = sys.stdout, sys.stderr   # mmengine's log lines must not mix with answers
    for line in sys.stdin:
        name, *args = line.split()
        if name == 'quit':
            return
        try:
            commands[name](*args)
            answers.write('ok\n')
        except Exception as err:  # noqa: BLE001 - reported to the test, one line
            answers.write(f'error {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ""}\n')
        answers.flush()


def mmpretrain_checkpoints(out_dir, timeout=300):
    """Write the mmpretrain checkpoints in the mmpretrain process (mmpretrain 1.2 and
    transformers 5 do not import into one process); return {name: path}, outputs."""
    run_mmpretrain('mmpretrain', out_dir, timeout=timeout)
    paths = {name: osp.join(out_dir, f'{name}.pth') for name in ('classifier', 'detection', 'fcmae')}
    return paths, torch.load(osp.join(out_dir, 'outputs.pth'), weights_only=True)


def rewrite_config(folder, **changes):
    path = osp.join(folder, 'config.json')
    with open(path) as f:
        config = json.load(f)
    config.update(changes)
    with open(path, 'w') as f:
        json.dump(config, f)


def mmpretrain_folder():
    """Where tools/run_tests.sh installs mmpretrain (requirements-test-mmpretrain.txt): a folder of
    its own, never the environment, because mmdet.models imports an installed mmpretrain, and
    mmpretrain 1.2 fails to import beside transformers 5."""
    folder = os.environ.get('CNV2_TEST_PEERS') or osp.expanduser(
        '~/.cache/convnextv2-toolkit/test-peers/mmpretrain-1.2.0')
    if not osp.isfile(osp.join(folder, 'mmpretrain', '__init__.py')):
        sys.exit(f'mmpretrain is not installed in {folder}: run bash tools/run_tests.sh '
                 '(it installs the test peers)')
    return folder


if __name__ == '__main__':
    sys.path.append(mmpretrain_folder())   # after site-packages: it adds mmpretrain, shadows nothing
    without_transformers()
    if sys.argv[1:] == ['serve']:
        serve()
    elif sys.argv[1:2] == ['mmpretrain']:
        write_mmpretrain(sys.argv[2])
    elif sys.argv[1:2] == ['mmpretrain-load']:
        mmpretrain_outputs_of(sys.argv[2], sys.argv[3])
    else:
        sys.exit('usage: python -m tests.peer_checkpoints serve | mmpretrain OUT_DIR | '
                 'mmpretrain-load CKPT OUT')
