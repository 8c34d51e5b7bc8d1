"""Change-detection metric: accumulates one confusion matrix over the whole evaluation set (never a
mean of per-image scores) and reports explicitly-labelled scores: ``change_f1`` is the F1 of the change
class alone (what LENet / FSG-Net tables report as "F1"), ``macro_f1`` averages both classes."""
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from geoperc.evaluation.functional import binary_metrics_from_confusion, confusion_matrix, metrics_from_confusion
from geoperc.registry import METRICS


@METRICS.register_module()
class ChangeMetric(BaseMetric):
    default_prefix = 'change'

    def __init__(self, num_classes: int = 2, ignore_index: int = 255, positive: int = 1,
                 collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.positive = positive

    def process(self, data_batch, data_samples: Sequence) -> None:
        for s in data_samples:
            get = (lambda k: s[k]) if isinstance(s, dict) else (lambda k: getattr(s, k))
            pred = get('pred_sem_seg')
            gt = get('gt_sem_seg')
            pred = (pred['data'] if isinstance(pred, dict) else pred.data).cpu().numpy()
            gt = (gt['data'] if isinstance(gt, dict) else gt.data).cpu().numpy()
            pred = np.where(pred == self.ignore_index, 0, pred)  # nodata pixels have gt = ignore too
            self.results.append(confusion_matrix(pred, gt, self.num_classes, self.ignore_index))

    def compute_metrics(self, results: list) -> dict:
        cm = np.sum(results, axis=0)
        if self.num_classes == 2:
            out = binary_metrics_from_confusion(cm, self.positive)
        else:
            m = metrics_from_confusion(cm)
            out = dict(oa=m['oa'], kappa=m['kappa'], macro_f1=m['macro_f1'], mean_iou=m['mean_iou'])
        return {k: round(float(v) * 100, 4) if k != 'kappa' else round(float(v), 6) for k, v in out.items()}
