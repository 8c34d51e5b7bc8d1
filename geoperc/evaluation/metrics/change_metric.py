"""Change-detection metric: accumulates one confusion matrix over the whole evaluation set (never a
mean of per-image scores) and reports explicitly-labelled scores: ``change_f1`` is the F1 of the change
class alone (what LENet / FSG-Net tables report as "F1"), ``macro_f1`` averages both classes.

A set with no reference pixel of the positive class but with ignored pixels is refused
(:class:`~geoperc.errors.DatasetError`): that is what a 0/255 label read as 0/1 looks like (every change
pixel "not scored"), and scoring it would report recall 0 (or 100) without a word. A set with no positive
and nothing ignored is scored (a truly unchanged area) with a warning."""
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
            self.results.append((confusion_matrix(pred, gt, self.num_classes, self.ignore_index),
                                 int((gt == self.ignore_index).sum())))

    def compute_metrics(self, results: list) -> dict:
        cm = np.sum([r[0] for r in results], axis=0)
        ignored = sum(r[1] for r in results)
        if self.num_classes == 2 and cm[self.positive].sum() == 0:
            if ignored:
                from geoperc.errors import DatasetError
                raise DatasetError(
                    f'the evaluated set has no reference pixel of class {self.positive} but {ignored} ignored '
                    f'pixels ({self.ignore_index}): are the labels 0/255 read as 0/1? Set the dataset\'s '
                    "label_encoding ('0255' or 'auto') instead of scoring a set whose positives are all ignored")
            from mmengine.logging import print_log
            print_log(f'ChangeMetric: no reference pixel of class {self.positive} in the evaluated set; '
                      'recall and F1 of the change class are undefined (reported as 0)', logger='current',
                      level=30)
        if self.num_classes == 2:
            out = binary_metrics_from_confusion(cm, self.positive)
        else:
            m = metrics_from_confusion(cm)
            out = dict(oa=m['oa'], kappa=m['kappa'], macro_f1=m['macro_f1'], mean_iou=m['mean_iou'])
        return {k: round(float(v) * 100, 4) if k != 'kappa' else round(float(v), 6) for k, v in out.items()}
