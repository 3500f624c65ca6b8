"""Register modules with mmengine, mmdet and mmseg; mmdet and mmseg are required, and a broken
install of either is reported here with the package named, not later as "not in registry"."""
import importlib

from mmengine.registry import MODELS as ENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as ENGINE_CONSTRUCTORS


def import_required(module):
    """``importlib.import_module(module)``, failing with one line that names the package."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        package = module.split('.')[0]
        raise ImportError(f'ConvNeXt V2 toolkit: cannot import {module} ({type(err).__name__}: '
                          f'{err}); {package} is required - run bash tools/install.sh') from err


def model_registries():
    """MODELS of mmengine, mmdet and mmseg."""
    return [ENGINE_MODELS] + [import_required(f'{p}.registry').MODELS for p in ('mmdet', 'mmseg')]


def register_model(name, module):
    for registry in model_registries():
        registry.register_module(name, module=module, force=True)


def register_all():
    from .convnextv2 import ConvNeXtV2
    from .layer_decay import ConvNeXtV2LayerDecayOptimizerConstructor as Constructor

    register_model('ConvNeXtV2', ConvNeXtV2)
    constructors = [ENGINE_CONSTRUCTORS] + [import_required(f'{p}.registry').OPTIM_WRAPPER_CONSTRUCTORS
                                            for p in ('mmdet', 'mmseg')]
    for registry in constructors:
        registry.register_module(Constructor.__name__, module=Constructor, force=True)
