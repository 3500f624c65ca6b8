"""Stage 2, the ImageNet-1K/22K finetune (paper A.2, Tables 9-13): classifier, data and augments,
top-k metric, the recipe -> mmengine settings, a synthetic ImageNet-style set, configs/.
Imports ``backbones`` and ``engine``. Importing it registers the classifier, dataset and metric.
"""
import backbones  # noqa: F401  (ConvNeXtV2 and the layer-decay constructor)
import engine  # noqa: F401  (the atomic checkpoint hook and the resume allow-list)

from .classifier import ConvNeXtV2Classifier
from .data import ClassifierDataPreprocessor, ImageFolderClassification
from .metric import TopKAccuracy

__all__ = ['ConvNeXtV2Classifier', 'ClassifierDataPreprocessor', 'ImageFolderClassification',
           'TopKAccuracy']
