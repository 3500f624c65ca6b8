"""Import a package the toolkit needs (mmdet, mmseg) and fail with one line naming it."""
import importlib


def import_required(module):
    """``importlib.import_module(module)``, failing with one line that names the package."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        package = module.split('.')[0]
        raise ImportError(f'ConvNeXt V2 toolkit: cannot import {module} ({type(err).__name__}: '
                          f'{err}); {package} is required - run bash tools/install.sh') from err
