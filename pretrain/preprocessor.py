"""Normalisation for any channel count: mmengine's ``ImgDataPreprocessor`` takes 1 or 3 values of
mean/std only, a 4- or 13-band image needs one per channel."""
import torch
from mmengine.model import BaseDataPreprocessor
from mmengine.registry import MODELS


@MODELS.register_module()
class ChannelDataPreprocessor(BaseDataPreprocessor):
    """Batch to the device, float32, ``(x - mean) / std`` per channel (one value each, or one for
    all); the values are in the images' own units (``tools/dataset_stats.py`` prints them)."""

    def __init__(self, mean, std, non_blocking=False):
        super().__init__(non_blocking)
        if len(mean) != len(std) or not len(mean):
            raise ValueError(f'ChannelDataPreprocessor: mean has {len(mean)} values and std '
                             f'{len(std)}; give one of each per channel')
        if any(s <= 0 for s in std):
            raise ValueError(f'ChannelDataPreprocessor: std must be positive, got {list(std)}')
        self._enable_normalize = True
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1), False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(-1, 1, 1), False)

    def forward(self, data, training=False):
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            inputs = torch.stack(list(inputs))
        channels = self.mean.shape[0]
        if channels != 1 and inputs.shape[1] != channels:
            raise ValueError(f'ChannelDataPreprocessor: images have {inputs.shape[1]} channels but '
                             f'mean/std have {channels} values')
        return dict(inputs=(inputs.float() - self.mean) / self.std,
                    data_samples=data.get('data_samples'))
