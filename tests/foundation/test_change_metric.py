"""Confusion-matrix metrics against hand-computed answers; ChangeMetric accumulates one matrix."""
import numpy as np
import pytest
import torch

from geoperc.evaluation.functional import binary_metrics_from_confusion, confusion_matrix, metrics_from_confusion
from geoperc.evaluation.metrics import ChangeMetric

# reference / prediction, 255 = not scored.  By hand: rows = reference, columns = prediction
#   ref 0: pred 0 x2, pred 1 x2;  ref 1: pred 0 x1, pred 1 x2   -> [[2, 2], [1, 2]]
TARGET = np.array([0, 0, 0, 0, 1, 1, 1, 255])
PRED = np.array([0, 0, 1, 1, 1, 1, 0, 1])


def test_confusion_matrix_by_hand():
    cm = confusion_matrix(PRED, TARGET, 2)
    assert cm.tolist() == [[2, 2], [1, 2]]
    valid = np.array([1, 1, 1, 0, 1, 1, 1, 1], bool)  # drop one false alarm
    assert confusion_matrix(PRED, TARGET, 2, valid=valid).tolist() == [[2, 1], [1, 2]]
    with pytest.raises(ValueError, match='pixels'):
        confusion_matrix(PRED[:3], TARGET, 2)


def test_scores_by_hand():
    m = binary_metrics_from_confusion(np.array([[2, 2], [1, 2]]))
    assert m['change_precision'] == pytest.approx(2 / 4)
    assert m['change_recall'] == pytest.approx(2 / 3)
    assert m['change_f1'] == pytest.approx(4 / 7)          # 2PR / (P + R)
    assert m['change_iou'] == pytest.approx(2 / 5)          # TP / (TP + FP + FN)
    assert m['oa'] == pytest.approx(4 / 7)
    assert m['kappa'] == pytest.approx(4 / 25)             # (po - pe) / (1 - pe), pe = 24/49
    # class 0: P 2/3, R 1/2, F1 4/7, IoU 2/5 -> macro means
    assert m['macro_f1'] == pytest.approx(4 / 7)
    assert m['mean_iou'] == pytest.approx(2 / 5)
    assert m['macro_precision'] == pytest.approx((2 / 3 + 1 / 2) / 2)
    full = metrics_from_confusion(np.array([[2, 2], [1, 2]]))
    assert full['per_class']['support'] == [4, 3]


def test_absent_class_and_perfect_agreement():
    m = metrics_from_confusion(np.array([[5, 0, 0], [0, 0, 0], [0, 0, 3]]))
    assert m['present'] == [True, False, True]
    assert m['macro_f1'] == pytest.approx(1.0) and m['kappa'] == pytest.approx(1.0)
    assert binary_metrics_from_confusion(np.zeros((2, 2)))['change_f1'] == 0.0


def test_change_metric_accumulates_one_matrix():
    metric = ChangeMetric()
    metric.dataset_meta = dict(classes=('unchanged', 'changed'))
    halves = [(slice(0, 4), ), (slice(4, 8), )]
    for (sl,) in halves:
        sample = dict(pred_sem_seg=dict(data=torch.from_numpy(PRED[sl].reshape(1, 1, -1))),
                      gt_sem_seg=dict(data=torch.from_numpy(TARGET[sl].reshape(1, 1, -1))))
        metric.process({}, [sample])
    out = metric.compute_metrics(metric.results)
    # the first half alone has no change pixel in the reference: a per-image mean would differ
    assert out['change_f1'] == pytest.approx(100 * 4 / 7, abs=1e-3)
    assert out['change_iou'] == pytest.approx(40.0, abs=1e-3)
    assert out['kappa'] == pytest.approx(0.16, abs=1e-6)


def test_change_metric_nodata_prediction_not_counted_as_change():
    metric = ChangeMetric()
    pred = torch.tensor([[[255, 1, 0]]])      # nodata prediction where the reference is ignored too
    gt = torch.tensor([[[255, 1, 0]]])
    metric.process({}, [dict(pred_sem_seg=dict(data=pred), gt_sem_seg=dict(data=gt))])
    out = metric.compute_metrics(metric.results)
    assert out['change_f1'] == pytest.approx(100.0) and out['oa'] == pytest.approx(100.0)
