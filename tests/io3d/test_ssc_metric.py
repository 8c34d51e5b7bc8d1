"""SSC scores against hand-computed answers and against the devkit's formulas."""
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import BaseDataElement

from geoperc.evaluation.functional import ssc_confusion, ssc_metrics_from_confusion
from geoperc.evaluation.metrics import SSCMetric
from geoperc.structures.geo_data_sample import GeoDataSample

# 8 voxels, 3 classes (0 empty); voxel 6 is invalid (255)
TARGET = np.array([0, 0, 1, 1, 2, 2, 255, 1])
PRED = np.array([0, 1, 1, 0, 2, 1, 2, 1])


def test_hand_computed():
    # counted pairs (t, p): (0,0) (0,1) (1,1) (1,0) (2,2) (2,1) (1,1)
    m = ssc_metrics_from_confusion(ssc_confusion(PRED, TARGET, 3))
    assert m['voxels'] == 7
    # completion: TP = 4 [(1,1) (2,2) (2,1) (1,1)], FP = 1 [(0,1)], FN = 1 [(1,0)]
    assert m['completion_iou'] == pytest.approx(4 / 6)
    assert m['completion_precision'] == pytest.approx(4 / 5)
    assert m['completion_recall'] == pytest.approx(4 / 5)
    # class 1: TP 2, FP 2 [(0,1) (2,1)], FN 1 [(1,0)] -> 2/5; class 2: TP 1, FP 0, FN 1 -> 1/2
    assert m['per_class_iou'][1] == pytest.approx(0.4) and m['per_class_iou'][2] == pytest.approx(0.5)
    assert m['miou'] == pytest.approx(0.45)
    # a class that never occurs counts as 0 in the mean (the devkit averages all classes 1..C-1)
    m4 = ssc_metrics_from_confusion(ssc_confusion(PRED, TARGET, 4), class_names=['empty', 'a', 'b', 'c'])
    assert m4['miou'] == pytest.approx(0.3) and m4['class_iou'] == pytest.approx({'a': 0.4, 'b': 0.5, 'c': 0.0})


def devkit_scores(pred, target, invalid, n):
    """evaluate_completion.py's arithmetic: conf[pred, target] over voxels not 255 and not invalid."""
    keep = (target != 255) & (invalid != 1)
    conf = np.zeros((n, n))
    np.add.at(conf, (pred[keep], target[keep]), 1)
    tp = np.diag(conf)
    iou = tp / (conf.sum(1) + conf.sum(0) - tp + 1e-15)
    precision = conf[1:, 1:].sum() / conf[1:, :].sum()
    recall = conf[1:, 1:].sum() / conf[:, 1:].sum()
    completion = conf[1:, 1:].sum() / (conf.sum() - conf[0, 0])
    return dict(miou=iou[1:].mean(), completion_iou=completion, completion_precision=precision,
                completion_recall=recall)


def test_matches_devkit_on_random_grids():
    rng = np.random.default_rng(0)
    cms, preds, targets, invalids = [], [], [], []
    for _ in range(3):
        t = rng.integers(0, 20, (16, 16, 8))
        t[rng.random(t.shape) < 0.5] = 0
        inv = (rng.random(t.shape) < 0.1).astype(np.uint8)
        t255 = np.where(inv == 1, 255, t)
        p = np.where(rng.random(t.shape) < 0.7, t, rng.integers(0, 20, t.shape))
        cms.append(ssc_confusion(p, t255, 20))
        preds.append(p), targets.append(t), invalids.append(inv)
    ours = ssc_metrics_from_confusion(np.sum(cms, 0))
    ref = devkit_scores(np.concatenate([p.ravel() for p in preds]), np.concatenate([t.ravel() for t in targets]),
                        np.concatenate([i.ravel() for i in invalids]), 20)
    for k, v in ref.items():
        assert ours[k] == pytest.approx(v, rel=1e-12), k


def test_errors():
    with pytest.raises(ValueError, match='shape'):
        ssc_confusion(PRED[:4], TARGET, 3)
    with pytest.raises(ValueError, match='0..2'):
        ssc_confusion(np.array([0, 3]), np.array([0, 1]), 3)
    ssc_confusion(np.array([0, 255]), np.array([0, 255]), 3)  # a bad prediction on an invalid voxel is fine
    with pytest.raises(ValueError, match='num_classes'):
        ssc_confusion(np.array([0, 1]), np.array([0, 7]), 3)
    # an extra mask (e.g. camera FoV) restricts scoring
    cm = ssc_confusion(PRED, TARGET, 3, valid=np.arange(8) < 2)
    assert cm.sum() == 2


def test_metric_over_batches_and_evaluator():
    metric = SSCMetric(num_classes=3)
    metric.dataset_meta = dict(classes=('empty', 'car', 'road'))
    samples = []
    for sl in (slice(0, 4), slice(4, 8)):  # the same voxels split over two frames
        s = GeoDataSample()
        s.gt_occ = BaseDataElement(data=torch.from_numpy(TARGET[sl]))
        s.pred_occ = BaseDataElement(data=torch.from_numpy(PRED[sl]))
        samples.append(s)
    evaluator = Evaluator(metric)
    evaluator.process(samples[:1])  # Evaluator turns samples into dicts first, as in val loops
    evaluator.process(samples[1:])
    res = evaluator.evaluate(2)
    assert res['ssc/completion_iou'] == pytest.approx(66.6667, abs=1e-4)
    assert res['ssc/miou'] == pytest.approx(45.0)
    assert res['ssc/iou_car'] == pytest.approx(40.0) and res['ssc/iou_road'] == pytest.approx(50.0)
    assert 'ssc/iou_empty' not in res
    with pytest.raises(KeyError, match='pred_occ'):
        SSCMetric().process(None, [dict(gt_occ=TARGET)])


def _official_ssc_scores(preds, targets, num_classes, ignore=255):
    """The protocol of the official VPOcc / Symphonies ``ssc_pl/evaluation/ssc_metric.py`` (``SSCMetrics``),
    restated: per sample, ignored voxels (target 255) are set to 0 in both and then dropped by the mask; SC
    counts occupied = class > 0; SSC counts per class; IoU_c = tp / (tp + fp + fn + 1e-6), mIoU over 1..C-1."""
    tp_sc = fp_sc = fn_sc = 0
    tps, fps, fns = (np.zeros(num_classes) for _ in range(3))
    for p, t in zip(preds, targets):
        p, t = p.reshape(-1).copy(), t.reshape(-1).copy()
        mask = t != ignore
        p[~mask] = 0
        t[~mask] = 0
        pb, tb = p[mask] > 0, t[mask] > 0
        tp_sc += np.sum(pb & tb)
        fp_sc += np.sum(pb & ~tb)
        fn_sc += np.sum(~pb & tb)
        pm, tm = p[mask], t[mask]
        for c in range(num_classes):
            tps[c] += np.sum((pm == c) & (tm == c))
            fps[c] += np.sum((pm == c) & (tm != c))
            fns[c] += np.sum((pm != c) & (tm == c))
    ious = tps / (tps + fps + fns + 1e-6)
    return dict(precision=tp_sc / (tp_sc + fp_sc), recall=tp_sc / (tp_sc + fn_sc),
                iou=tp_sc / (tp_sc + fp_sc + fn_sc), ious=ious, miou=ious[1:].mean())


def test_matches_official_vpocc_metric():
    from geoperc.evaluation.functional import ssc_confusion, ssc_metrics_from_confusion
    rng = np.random.default_rng(7)
    preds, targets = [], []
    for _ in range(3):
        t = rng.choice([0, 0, 0, 1, 2, 9, 13, 15, 255], size=(16, 16, 4))
        p = np.where(rng.random(t.shape) < 0.6, np.where(t == 255, 0, t), rng.integers(0, 20, t.shape))
        preds.append(p)
        targets.append(t)
    ref = _official_ssc_scores(preds, targets, 20)
    cm = sum(ssc_confusion(p, t, 20) for p, t in zip(preds, targets))
    ours = ssc_metrics_from_confusion(cm)
    assert abs(ours['completion_iou'] - ref['iou']) < 1e-9
    assert abs(ours['completion_precision'] - ref['precision']) < 1e-9
    assert abs(ours['completion_recall'] - ref['recall']) < 1e-9
    assert np.allclose(ours['per_class_iou'], ref['ious'], atol=1e-6)
    assert abs(ours['miou'] - ref['miou']) < 1e-6


def test_format_only_writes_benchmark_labels(tmp_path):
    import zipfile
    rng = np.random.default_rng(3)
    metric = SSCMetric(num_classes=20, output_dir=str(tmp_path / 'out'), format_only=True)
    preds = []
    for fid in ('000000', '000005'):
        p = rng.integers(0, 20, (4, 4, 2))
        preds.append(p)
        s = GeoDataSample(metainfo=dict(sequence='11', frame_id=fid))
        s.pred_occ = BaseDataElement(data=torch.from_numpy(p))
        metric.process({}, [s.to_dict() if fid == '000005' else s])  # as the Evaluator passes them, or not
    assert metric.compute_metrics(metric.results) == {}
    with zipfile.ZipFile(tmp_path / 'out' / 'submission.zip') as zf:
        assert sorted(zf.namelist()) == ['sequences/11/predictions/000000.label', 'sequences/11/predictions/000005.label']
        raw = np.frombuffer(zf.read('sequences/11/predictions/000005.label'), np.uint16)
    inv = {0: 0, 1: 10, 9: 40, 13: 50, 19: 81}
    for k, v in inv.items():
        assert np.all(raw[preds[1].reshape(-1) == k] == v)
