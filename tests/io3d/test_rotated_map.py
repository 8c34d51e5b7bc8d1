"""Rotated IoU and VOC-style mAP (DOTA devkit / mmrotate conventions) against hand-computed answers."""
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from geoperc.evaluation.functional import average_precision, eval_rotated_map, rotated_iou
from geoperc.evaluation.metrics import RotatedMAPMetric
from geoperc.ops.rotated import rbox_to_corners
from geoperc.structures.geo_data_sample import GeoDataSample


def mmcv_ops_available():
    try:
        from mmcv.ops import box_iou_rotated  # noqa: F401
        return True
    except Exception:  # noqa: BLE001
        return False


def test_rotated_iou_shapely():
    a = np.array([[0, 0, 2, 2, 0.0]])
    b = np.array([[1, 0, 2, 2, 0.0], [0, 0, 2, 2, np.pi / 2 - 1e-9], [10, 10, 2, 2, 0.3]])
    iou = rotated_iou(a, b, backend='shapely')
    np.testing.assert_allclose(iou, [[1 / 3, 1.0, 0.0]], atol=1e-7)
    # the same boxes given as polygons
    pa, pb = rbox_to_corners(a).reshape(-1, 8), rbox_to_corners(b).reshape(-1, 8)
    np.testing.assert_allclose(rotated_iou(pa, pb), iou, atol=1e-7)
    # a 45-degree square inside an axis-aligned one: inter = 2, union = 4
    diamond = np.array([[0, 0, np.sqrt(2), np.sqrt(2), np.pi / 4]])
    np.testing.assert_allclose(rotated_iou(a, diamond, backend='shapely'), [[0.5]], atol=1e-7)
    assert rotated_iou(a, np.zeros((0, 5))).shape == (1, 0)
    with pytest.raises(ValueError):
        rotated_iou(a, pa)


@pytest.mark.skipif(not mmcv_ops_available(), reason='mmcv built with ops is not installed here')
def test_rotated_iou_backends_agree():
    rng = np.random.default_rng(0)
    b1 = np.concatenate([rng.uniform(0, 50, (20, 2)), rng.uniform(5, 20, (20, 2)), rng.uniform(-1.5, 1.5, (20, 1))], 1)
    b2 = b1 + rng.normal(0, 2, b1.shape)
    b2[:, 2:4] = np.abs(b2[:, 2:4]) + 1
    np.testing.assert_allclose(rotated_iou(b1, b2, 'mmcv'), rotated_iou(b1, b2, 'shapely'), atol=1e-4)


def test_average_precision_modes():
    rec, prec = np.array([0.5, 1.0]), np.array([1.0, 0.5])
    assert average_precision(rec, prec, '11points') == pytest.approx((6 * 1.0 + 5 * 0.5) / 11)
    assert average_precision(rec, prec, 'area') == pytest.approx(0.75)
    assert average_precision(np.zeros(0), np.zeros(0)) == 0.0
    with pytest.raises(ValueError):
        average_precision(rec, prec, 'coco')


# image 1: A (class 0), B (class 0, difficult), D (class 2); image 2: C (class 0)
GT = [dict(bboxes=np.array([[10, 10, 10, 4, 0.0], [40, 40, 10, 4, 0.0], [60, 60, 8, 8, 0.0]]),
           labels=np.array([0, 0, 2]), ignore=np.array([False, True, False])),
      dict(bboxes=np.array([[2, 1, 4, 2, 0.0]]), labels=np.array([0]), ignore=np.array([False]))]
DET = [dict(bboxes=np.array([[10, 10, 10, 4, 0.0],      # on A, 0.9: TP
                             [10, 10, 10, 4, 0.0],      # on A again, 0.8: FP
                             [40, 40, 10, 4, 0.0],      # on difficult B, 0.7: ignored
                             [80, 80, 4, 4, 0.0]]),     # class 1 (no ground truth anywhere)
            scores=np.array([0.9, 0.8, 0.7, 0.95]), labels=np.array([0, 0, 0, 1])),
       dict(bboxes=np.array([[1, 1, 2, 2, 0.0],          # half of C: IoU exactly 0.5, 0.6
                             [30, 30, 4, 2, 0.0]]),      # far away, 0.5: FP
            scores=np.array([0.6, 0.5]), labels=np.array([0, 0]))]


@pytest.mark.parametrize('backend', ['shapely', 'auto'])  # 'auto' is mmcv's box_iou_rotated when built
def test_map_hand_computed_mmrotate(backend):
    # ranked: TP, FP, (ignored), TP (IoU 0.5 >= 0.5), FP; 2 positives (B is ignored)
    # recall .5 .5 1 1, precision 1 .5 2/3 .5
    m, per_class = eval_rotated_map(DET, GT, 3, 0.5, '11points', 'mmrotate', backend)
    ap0 = (6 * 1.0 + 5 * (2 / 3)) / 11
    assert per_class[0]['ap'] == pytest.approx(ap0) and per_class[0]['num_gts'] == 2
    assert per_class[0]['num_dets'] == 5
    assert per_class[1]['num_gts'] == 0 and per_class[2]['ap'] == 0.0  # class 2: ground truth, no detection
    assert m == pytest.approx((ap0 + 0.0) / 2)  # classes without ground truth do not count
    _, area = eval_rotated_map(DET, GT, 3, 0.5, 'area', 'mmrotate', 'shapely')
    assert area[0]['ap'] == pytest.approx(0.5 * 1.0 + 0.5 * (2 / 3))


def test_map_hand_computed_dota_devkit():
    # the devkit needs IoU > 0.5: the half-overlap detection is FP -> recall stays .5
    _, per_class = eval_rotated_map(DET, GT, 3, 0.5, '11points', 'dota_devkit', 'shapely')
    assert per_class[0]['ap'] == pytest.approx(6 / 11)


def test_map_with_polygons_equals_rboxes():
    poly = lambda b: rbox_to_corners(b).reshape(-1, 8)  # noqa: E731
    det_p = [dict(d, bboxes=poly(d['bboxes'])) for d in DET]
    gt_p = [dict(g, bboxes=poly(g['bboxes'])) for g in GT]
    assert eval_rotated_map(det_p, gt_p, 3)[0] == pytest.approx(eval_rotated_map(DET, GT, 3, backend='shapely')[0])


def _samples(difficulty_field=True):
    out = []
    for det, gt in zip(DET, GT):
        s = GeoDataSample()
        g = InstanceData(bboxes=torch.tensor(gt['bboxes'], dtype=torch.float32),
                         labels=torch.tensor(gt['labels']))
        if difficulty_field:
            g.difficulty = torch.tensor(gt['ignore'].astype(np.int64))
        s.gt_instances = g
        s.pred_instances = InstanceData(bboxes=torch.tensor(det['bboxes'], dtype=torch.float32),
                                        scores=torch.tensor(det['scores'], dtype=torch.float32),
                                        labels=torch.tensor(det['labels']))
        out.append(s)
    return out


def test_metric():
    metric = RotatedMAPMetric(iou_thrs=[0.5, 0.75], classwise=True, backend='shapely')
    metric.dataset_meta = dict(classes=('plane', 'ship', 'harbor'))
    metric.process(None, [s.to_dict() for s in _samples()])
    res = metric.compute_metrics(metric.results)
    ap50 = ((6 + 5 * 2 / 3) / 11) / 2 * 100
    assert res['AP50'] == pytest.approx(ap50, abs=1e-3)
    assert res['AP50_plane'] == pytest.approx((6 + 5 * 2 / 3) / 11 * 100, abs=1e-3)
    # at 0.75 the half-overlap match fails: plane AP = 6/11, harbor 0
    assert res['AP75'] == pytest.approx(6 / 11 / 2 * 100, abs=1e-3)
    assert res['mAP'] == pytest.approx((res['AP50'] + res['AP75']) / 2, abs=1e-3)
    # keeping difficult objects (mmrotate 1.x dataset default): B becomes a missed positive
    keep = RotatedMAPMetric(ignore_difficult=False, backend='shapely', num_classes=3)
    keep.process(None, _samples())
    _, pc = eval_rotated_map(DET, [dict(g, ignore=np.zeros(len(g['labels']), bool)) for g in GT], 3,
                             backend='shapely')
    assert keep.compute_metrics(keep.results)['AP50'] == pytest.approx(
        np.mean([pc[0]['ap'], pc[2]['ap']]) * 100, abs=1e-3)


def test_metric_dataset_roundtrip(tmp_path):
    """Ground truth of a DOTA copy, fed back as predictions, scores 100."""
    from geoperc.datasets.detection import DOTADataset
    from geoperc.testing.formats3d import write_dota
    write_dota(str(tmp_path))
    ds = DOTADataset(str(tmp_path))
    metric = RotatedMAPMetric(backend='shapely')
    metric.dataset_meta = ds.metainfo
    samples = []
    for i in range(len(ds)):
        inst = ds[i]['instances']
        boxes = torch.tensor([x['bbox'] for x in inst])
        labels = torch.tensor([x['bbox_label'] for x in inst])
        samples.append(dict(gt_instances=dict(bboxes=boxes, labels=labels,
                                              difficulty=torch.tensor([x['difficulty'] for x in inst])),
                            pred_instances=dict(bboxes=boxes, labels=labels, scores=torch.ones(len(inst)))))
    metric.process(None, samples)
    assert metric.compute_metrics(metric.results)['mAP'] == pytest.approx(100.0)
