"""Top-1 / top-5 accuracy (%) of the ImageNet finetune, as the paper reports it."""
import torch
from mmengine.evaluator import BaseMetric
from mmengine.registry import METRICS


@METRICS.register_module()
class TopKAccuracy(BaseMetric):
    """Accuracy of the model's ``predict`` outputs (dicts with ``scores`` and ``gt_label``).

    Logged as ``accuracy/top1`` and ``accuracy/top5``; with fewer classes than k every image
    counts as a top-k hit (k is capped at the class count).
    """

    default_prefix = 'accuracy'

    def __init__(self, topk=(1, 5), collect_device='cpu', prefix=None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = tuple(topk)

    def process(self, data_batch, data_samples):
        for sample in data_samples:
            if sample['gt_label'] is None:
                raise ValueError('accuracy needs labels: the evaluation batch has no data_samples')
            scores = sample['scores']
            k = min(max(self.topk), scores.numel())
            ranked = torch.topk(scores, k).indices.tolist()
            label = int(sample['gt_label'])
            self.results.append({k: label in ranked[:k] for k in self.topk})

    def compute_metrics(self, results):
        return {f'top{k}': 100.0 * sum(r[k] for r in results) / len(results) for k in self.topk}
