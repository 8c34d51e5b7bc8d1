"""Semantic scene completion metric (SemanticKITTI protocol): one confusion matrix accumulated over the
whole evaluation set; completion IoU / precision / recall and semantic mIoU over the non-empty classes
(see :mod:`geoperc.evaluation.functional.ssc`). Scores are reported in percent, as VPOcc / MonoScene
tables are."""
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.structures import BaseDataElement

from geoperc.evaluation.functional import ssc_confusion, ssc_metrics_from_confusion
from geoperc.registry import METRICS


def _field(sample, key: str):
    """``sample.key`` / ``sample[key]``, unwrapping a data element's ``data`` and tensors -> numpy."""
    v = sample.get(key) if isinstance(sample, dict) else getattr(sample, key, None)
    if v is None:
        return None
    if isinstance(v, dict):
        v = v.get('data', v.get('labels'))
    elif isinstance(v, BaseDataElement):
        v = v.data
    if hasattr(v, 'detach'):
        v = v.detach().cpu().numpy()
    return np.asarray(v)


@METRICS.register_module()
class SSCMetric(BaseMetric):
    """SSC metric over ``gt_occ`` / ``pred_occ`` voxel labels ``(X, Y, Z)`` of each data sample.

    Args:
        num_classes (int): classes including empty (20 for SemanticKITTI).
        ignore_index (int): target value not scored (255 = invalid).
        empty_index (int): the empty class (0).
        valid_key (str, optional): a per-sample boolean voxel mask field to restrict scoring further
            (e.g. a camera field-of-view mask); None scores the whole grid (the benchmark protocol).
        classwise (bool): also report ``iou_<class>`` for every non-empty class.
    """
    default_prefix: Optional[str] = 'ssc'

    def __init__(self, num_classes: int = 20, ignore_index: int = 255, empty_index: int = 0,
                 valid_key: Optional[str] = None, classwise: bool = True, collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.empty_index = empty_index
        self.valid_key = valid_key
        self.classwise = classwise

    def process(self, data_batch, data_samples: Sequence) -> None:
        for s in data_samples:
            pred, gt = _field(s, 'pred_occ'), _field(s, 'gt_occ')
            if pred is None or gt is None:
                raise KeyError('SSCMetric needs pred_occ and gt_occ in every data sample')
            valid = _field(s, self.valid_key) if self.valid_key else None
            self.results.append(ssc_confusion(pred.reshape(gt.shape), gt, self.num_classes, self.ignore_index,
                                              valid))

    def compute_metrics(self, results: list) -> dict:
        cm = np.sum(results, axis=0)
        names = (self.dataset_meta or {}).get('classes')
        if names is not None and len(names) != self.num_classes:
            names = None
        m = ssc_metrics_from_confusion(cm, self.empty_index, names)
        out = {k: round(m[k] * 100, 4) for k in ('completion_iou', 'completion_precision', 'completion_recall',
                                                  'miou')}
        if self.classwise:
            for i, v in enumerate(m['per_class_iou']):
                if i != self.empty_index:
                    out[f'iou_{names[i] if names else i}'] = round(v * 100, 4)
        return out
