"""Pixel metrics from an accumulated confusion matrix (pure numpy; shared by training metrics and
scene evaluation, so a number means the same thing everywhere).

Rows are the reference class, columns the predicted class. Pixels whose reference equals
``ignore_index`` or whose ``valid`` mask is False are never counted.
"""
from typing import Dict, Optional

import numpy as np


def confusion_matrix(pred, target, num_classes: int, ignore_index: Optional[int] = 255,
                     valid=None) -> np.ndarray:
    """(num_classes, num_classes) int64 counts; row = reference, column = prediction."""
    pred = np.asarray(pred).reshape(-1).astype(np.int64)
    target = np.asarray(target).reshape(-1).astype(np.int64)
    if pred.shape != target.shape:
        raise ValueError(f'prediction has {pred.size} pixels, reference {target.size}')
    keep = (target >= 0) & (target < num_classes) & (pred >= 0) & (pred < num_classes)
    if ignore_index is not None:
        keep &= target != ignore_index
    if valid is not None:
        keep &= np.asarray(valid).reshape(-1).astype(bool)
    idx = target[keep] * num_classes + pred[keep]
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _div(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


def metrics_from_confusion(cm: np.ndarray) -> Dict[str, object]:
    """Per-class precision / recall / F1 / IoU, OA, Cohen's kappa and macro means.

    A class absent from both reference and prediction gets 0 for each score and is left out of the
    macro means (``present`` lists which classes counted).
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    ref = cm.sum(1)
    pred = cm.sum(0)
    total = cm.sum()
    precision = _div(tp, pred)
    recall = _div(tp, ref)
    f1 = _div(2 * precision * recall, precision + recall)
    iou = _div(tp, ref + pred - tp)
    oa = float(tp.sum() / total) if total else 0.0
    pe = float((ref * pred).sum() / total ** 2) if total else 0.0
    kappa = (oa - pe) / (1 - pe) if pe < 1 else (1.0 if oa == 1.0 else 0.0)
    present = (ref + pred) > 0
    mean = (lambda v: float(v[present].mean())) if present.any() else (lambda v: 0.0)
    return dict(
        per_class=dict(precision=precision.tolist(), recall=recall.tolist(), f1=f1.tolist(),
                       iou=iou.tolist(), support=ref.astype(np.int64).tolist()),
        present=present.tolist(), oa=oa, kappa=float(kappa),
        macro_precision=mean(precision), macro_recall=mean(recall), macro_f1=mean(f1), mean_iou=mean(iou),
        pixels=int(total))


def binary_metrics_from_confusion(cm: np.ndarray, positive: int = 1) -> Dict[str, float]:
    """Flat, explicitly-labelled scores for a two-class (change / foreground) task.

    ``change_*`` are the scores of the positive class alone (what change-detection papers report as
    "F1"); ``macro_*`` average both classes; ``oa`` and ``kappa`` are over all counted pixels.
    """
    m = metrics_from_confusion(cm)
    pc = m['per_class']
    return dict(change_precision=pc['precision'][positive], change_recall=pc['recall'][positive],
                change_f1=pc['f1'][positive], change_iou=pc['iou'][positive], oa=m['oa'],
                kappa=m['kappa'], macro_f1=m['macro_f1'], mean_iou=m['mean_iou'],
                macro_precision=m['macro_precision'], macro_recall=m['macro_recall'])
