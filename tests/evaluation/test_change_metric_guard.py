"""ChangeMetric refuses a set whose change pixels are all ignored (a 0/255 label read as 0/1, issue 13 case 2)."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from geoperc.errors import DatasetError, GeoPercError
from geoperc.evaluation.metrics import ChangeMetric
from geoperc.structures import GeoDataSample


def _sample(gt, pred):
    s = GeoDataSample()
    s.gt_sem_seg = PixelData(data=torch.from_numpy(np.asarray(gt, np.int64))[None])
    s.pred_sem_seg = PixelData(data=torch.from_numpy(np.asarray(pred, np.int64))[None])
    return s


def _score(samples):
    m = ChangeMetric()
    m.process(None, samples)
    return m.compute_metrics(m.results)


def test_all_positives_ignored_is_an_error():
    # what LEVIR-CD's 0/255 masks become when read as 0/1: change pixels are 255 = not scored
    gt = [[0, 0, 255, 255], [0, 0, 255, 255]]
    pred = [[0, 0, 1, 1], [0, 0, 1, 1]]
    with pytest.raises(DatasetError, match='label_encoding') as e:
        _score([_sample(gt, pred)])
    assert isinstance(e.value, GeoPercError)


def test_unchanged_set_without_ignored_pixels_is_scored():
    out = _score([_sample([[0, 0], [0, 0]], [[0, 1], [0, 0]])])
    assert out['change_precision'] == 0 and out['oa'] == pytest.approx(75.0)


def test_normal_set_unchanged_behaviour():
    out = _score([_sample([[0, 1], [1, 255]], [[0, 1], [0, 1]])])
    assert out['change_recall'] == pytest.approx(50.0) and out['change_precision'] == pytest.approx(100.0)
