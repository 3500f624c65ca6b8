"""The compiled mode switch: ``ConvNeXtV2(compile=...)`` gives the eager module's numbers, names
and gradients, also when built from an mmdet/mmseg config. The ``aot_eager`` backend traces with
dynamo and AOTAutograd like the default inductor does, without inductor's minute of C++ codegen
on a CPU (tools/benchmark.py times the real thing)."""
import copy

import pytest
import torch

from backbones import ConvNeXtV2

AOT = dict(backend='aot_eager')


def pair(**kwargs):
    torch.manual_seed(0)
    eager = ConvNeXtV2('atto', **kwargs)
    eager.init_weights()
    compiled = ConvNeXtV2('atto', compile=AOT, **kwargs)
    compiled.load_state_dict(eager.state_dict())
    return eager, compiled


def test_compiled_forward_and_backward_match_eager():
    eager, compiled = pair(drop_path_rate=0.0)
    x = torch.randn(2, 3, 64, 96)
    outs_e, outs_c = eager(x), compiled(x)
    assert len(outs_e) == len(outs_c) == 4
    for e, c in zip(outs_e, outs_c):
        torch.testing.assert_close(c, e, rtol=1e-5, atol=1e-5)
    sum(o.square().mean() for o in outs_e).backward()
    sum(o.square().mean() for o in outs_c).backward()
    for (name, p_e), p_c in zip(eager.named_parameters(), compiled.parameters()):
        torch.testing.assert_close(p_c.grad, p_e.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_compiled_module_keeps_eager_names_and_copies():
    eager, compiled = pair()
    assert list(compiled.state_dict()) == list(eager.state_dict())
    twin = copy.deepcopy(compiled)      # EMA hooks and DDP wrappers copy the model
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(twin(x)[-1], compiled(x)[-1])


def test_masked_fcmae_path_stays_eager_and_exact():
    eager, compiled = pair()
    visible = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    x = torch.randn(1, 3, 64, 64)
    assert torch.equal(compiled(x, visible)[-1], eager(x, visible)[-1])


def test_config_switch_for_detector_and_segmentor_backbones():
    import backbones  # noqa: F401  (registers the backbone)
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.registry import MODELS as SEG_MODELS
    for registry in (DET_MODELS, SEG_MODELS):
        backbone = registry.build(dict(type='ConvNeXtV2', arch='atto', compile=True))
        assert backbone.compile_options == {}


def test_bad_compile_value_is_refused():
    with pytest.raises(TypeError, match='compile must be'):
        ConvNeXtV2('atto', compile='yes')


def test_dense_forward_really_goes_through_dynamo():
    graphs = []

    def recording_backend(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward

    model = ConvNeXtV2('atto', compile=dict(backend=recording_backend))
    model.init_weights()
    model(torch.randn(1, 3, 64, 64))
    assert graphs and any('dwconv' in str(g.code) or 'conv2d' in str(g.code) for g in graphs)


@pytest.mark.slow   # inductor generates and compiles C++ for the forward and the backward (minutes)
def test_default_inductor_compile_matches_eager_on_a_small_custom_size(monkeypatch):
    """``compile=True`` is what the configs use: the default backend, inductor, not aot_eager."""
    import torch._inductor.config as inductor_config
    monkeypatch.setattr(inductor_config, 'compile_threads', 1)   # no worker pool on a 2-core CPU
    # as in a user's process: the tests above traced the same function with other backends, and
    # dynamo's automatic-dynamic state is per code object, shared across those compiled wrappers
    torch._dynamo.reset()
    arch = dict(depths=(1, 1, 1, 1), dims=(8, 16, 24, 32))
    torch.manual_seed(0)
    eager = ConvNeXtV2(arch, drop_path_rate=0.0)
    eager.init_weights()
    with torch.no_grad():   # GRN starts as the identity: give it (and every bias) a role
        for name, param in eager.named_parameters():
            if 'grn' in name or name.endswith('bias'):
                param.normal_(std=0.3)
    compiled = ConvNeXtV2(arch, drop_path_rate=0.0, compile=True)
    compiled.load_state_dict(eager.state_dict())
    assert compiled.compile_options == {}   # torch.compile's defaults: inductor
    x = torch.randn(2, 3, 64, 96)
    outs_e, outs_c = eager(x), compiled(x)
    for e, c in zip(outs_e, outs_c):
        torch.testing.assert_close(c, e, rtol=1e-4, atol=1e-5)
    sum((o * torch.linspace(-1, 1, o.shape[1]).view(1, -1, 1, 1)).square().mean()
        for o in outs_e).backward()
    sum((o * torch.linspace(-1, 1, o.shape[1]).view(1, -1, 1, 1)).square().mean()
        for o in outs_c).backward()
    for (name, p_e), p_c in zip(eager.named_parameters(), compiled.parameters()):
        torch.testing.assert_close(p_c.grad, p_e.grad, rtol=1e-3, atol=1e-5, msg=name)
    # a second input size, as a detector's keep-ratio test images give (dynamo then recompiles
    # with dynamic shapes)
    x2 = torch.randn(1, 3, 96, 64)
    with torch.no_grad():
        for e, c in zip(eager(x2), compiled(x2)):
            torch.testing.assert_close(c, e, rtol=1e-4, atol=1e-5)
