"""Semantic scene completion (SSC) scores, the SemanticKITTI protocol.

As computed by the official devkit (``PRBonn/semantic-kitti-api``, ``evaluate_completion.py``) and by
MonoScene's / VPOcc's ``SSCMetrics``:

* Voxels whose target is ``ignore_index`` (255: invalid, i.e. flagged in ``.invalid`` or a raw class the
  learning map sends to "unlabeled") are not counted. Everything else, including empty space, is.
* **Completion (SC)**: occupied = class > 0. Over the whole evaluation set, TP = target and prediction
  occupied, FP = target empty / prediction occupied, FN = target occupied / prediction empty; precision,
  recall and IoU = TP / (TP + FP + FN).
* **Semantic (SSC)**: per class c, TP/FP/FN accumulated over the whole set; IoU_c = TP / (TP + FP + FN),
  0 when the class never occurs in target or prediction; **mIoU is the mean over classes 1..C-1 (all 19
  for SemanticKITTI, absent ones count as 0)**, the empty class 0 excluded.

Statistics are one ``(C, C)`` confusion matrix (rows = target, columns = prediction) accumulated over
the set (:func:`geoperc.evaluation.functional.confusion_matrix`); scores are never averaged per frame.
"""
from typing import Dict, Optional, Sequence

import numpy as np

from .confusion import confusion_matrix

__all__ = ['ssc_confusion', 'ssc_metrics_from_confusion']


def ssc_confusion(pred, target, num_classes: int = 20, ignore_index: int = 255, valid=None) -> np.ndarray:
    """``(C, C)`` int64 confusion of one or more grids (rows = target, columns = prediction).

    Args:
        pred: predicted class per voxel (any shape), values in ``0..C-1``.
        target: target per voxel, ``0..C-1`` or ``ignore_index``.
        valid: optional extra mask (e.g. a camera field-of-view mask); False voxels are not counted.

    Raises:
        ValueError: shapes differ, or a counted voxel's prediction is outside ``0..C-1`` (it would
            otherwise silently drop out of the statistics).
    """
    pred = np.asarray(pred)
    target = np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f'prediction shape {pred.shape} != target shape {target.shape}')
    counted = target != ignore_index
    if valid is not None:
        counted &= np.asarray(valid, bool).reshape(target.shape)
    p = pred[counted]
    if p.size and (p.min() < 0 or p.max() >= num_classes):
        raise ValueError(f'predictions must be class ids 0..{num_classes - 1} where the target is valid, '
                         f'got {p.min()}..{p.max()}')
    t = target[counted]
    if t.size and t.max() >= num_classes:
        raise ValueError(f'target has class {t.max()} >= num_classes {num_classes} (not {ignore_index})')
    return confusion_matrix(p, t, num_classes, ignore_index=None)


def _div(a, b) -> np.ndarray:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


def ssc_metrics_from_confusion(cm: np.ndarray, empty_index: int = 0,
                               class_names: Optional[Sequence[str]] = None) -> Dict[str, object]:
    """Completion and semantic scores from an accumulated confusion matrix (fractions in [0, 1]).

    Returns:
        dict with ``completion_precision``, ``completion_recall``, ``completion_iou``, ``miou`` (over the
        non-empty classes), ``per_class_iou`` (list over all C classes; the empty class's entry is its
        own IoU, reported but not averaged), ``voxels`` (counted), and ``class_iou`` (name -> IoU for the
        non-empty classes) when ``class_names`` are given.
    """
    cm = np.asarray(cm, np.float64)
    C = cm.shape[0]
    occ = np.ones(C, bool)
    occ[empty_index] = False
    tp_c = cm[np.ix_(occ, occ)].sum()
    fp_c = cm[empty_index, occ].sum()  # target empty, predicted occupied
    fn_c = cm[occ, empty_index].sum()  # target occupied, predicted empty
    tp = np.diag(cm)
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    iou = _div(tp, tp + fp + fn)
    out = dict(completion_precision=float(_div(tp_c, tp_c + fp_c)),
               completion_recall=float(_div(tp_c, tp_c + fn_c)),
               completion_iou=float(_div(tp_c, tp_c + fp_c + fn_c)),
               miou=float(iou[occ].mean()) if occ.any() else 0.0,
               per_class_iou=iou.tolist(), voxels=int(cm.sum()))
    if class_names is not None:
        if len(class_names) != C:
            raise ValueError(f'{len(class_names)} class names for {C} classes')
        out['class_iou'] = {class_names[i]: float(iou[i]) for i in range(C) if occ[i]}
    return out
