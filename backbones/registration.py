"""Register modules with mmengine, mmdet and mmseg; mmdet and mmseg are required, and a broken
install of either is reported here with the package named, not later as "not in registry"."""
from mmengine.registry import MODELS as ENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as ENGINE_CONSTRUCTORS

from engine.optional_imports import import_required

from .convnextv2 import ConvNeXtV2
from .layer_decay import ConvNeXtV2LayerDecayOptimizerConstructor as Constructor


def model_registries():
    """MODELS of mmengine, mmdet and mmseg."""
    return [ENGINE_MODELS] + [import_required(f'{p}.registry').MODELS for p in ('mmdet', 'mmseg')]


def register_model(name, module):
    for registry in model_registries():
        registry.register_module(name, module=module, force=True)


def register_all():
    register_model('ConvNeXtV2', ConvNeXtV2)
    constructors = [ENGINE_CONSTRUCTORS] + [import_required(f'{p}.registry').OPTIM_WRAPPER_CONSTRUCTORS
                                            for p in ('mmdet', 'mmseg')]
    for registry in constructors:
        registry.register_module(Constructor.__name__, module=Constructor, force=True)
