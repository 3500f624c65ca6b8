"""Register the backbone and the optimizer constructor with mmengine, mmdet and mmseg."""
from mmengine.registry import MODELS as ENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as ENGINE_CONSTRUCTORS


def _downstream_registries():
    """(MODELS, OPTIM_WRAPPER_CONSTRUCTORS) of mmdet and mmseg, for those that are installed."""
    found = []
    try:
        from mmdet.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
        found.append((MODELS, OPTIM_WRAPPER_CONSTRUCTORS))
    except ImportError:
        pass
    try:
        from mmseg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
        found.append((MODELS, OPTIM_WRAPPER_CONSTRUCTORS))
    except ImportError:
        pass
    return found


def register_all():
    from .convnextv2 import ConvNeXtV2
    from .layer_decay import ConvNeXtV2LayerDecayOptimizerConstructor as Constructor

    for models, constructors in [(ENGINE_MODELS, ENGINE_CONSTRUCTORS)] + _downstream_registries():
        models.register_module('ConvNeXtV2', module=ConvNeXtV2, force=True)
        constructors.register_module(Constructor.__name__, module=Constructor, force=True)
