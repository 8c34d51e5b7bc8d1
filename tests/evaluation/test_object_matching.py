"""One-to-one polygon matching and object metrics on hand-built geometries with known answers."""
import math

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from geoperc.evaluation.functional.objects import (match_polygons, object_metrics, pairwise_iou,
                                                   rbox_to_polygons)
from geoperc.io.vector import repair_polygons


def test_identical_and_shifted_squares():
    ref = [shapely.box(0, 0, 10, 10), shapely.box(100, 0, 110, 10)]
    pred = [shapely.box(0, 0, 10, 10), shapely.box(105, 0, 115, 10)]  # second: IoU 50 / 150 = 1/3
    m = match_polygons(pred, ref, 0.5)
    assert m.pairs.tolist() == [[0, 0]] and m.ious.tolist() == [1.0]
    assert m.unmatched_pred.tolist() == [1] and m.unmatched_ref.tolist() == [1]
    assert m.best_iou_pred[1] == pytest.approx(1 / 3)
    s = object_metrics(m)
    assert (s['tp'], s['fp'], s['fn']) == (1, 1, 1)
    assert s['precision'] == s['recall'] == s['f1'] == 0.5 and s['mean_iou'] == 1.0
    m = match_polygons(pred, ref, 0.3)  # a lower threshold accepts the shifted pair
    assert len(m.pairs) == 2 and object_metrics(m)['mean_iou'] == pytest.approx((1 + 1 / 3) / 2)


def test_iou_exactly_at_threshold_matches():
    m = match_polygons([shapely.box(0, 0, 2, 1)], [shapely.box(0, 0, 1, 1)], 0.5)
    assert len(m.pairs) == 1 and m.ious[0] == 0.5
    assert not len(match_polygons([shapely.box(0, 0, 2, 1)], [shapely.box(0, 0, 1, 1)], 0.51).pairs)


def test_one_to_one_best_pair_wins():
    ref = [shapely.box(0, 0, 10, 10)]
    pred = [shapely.box(0, 0, 10, 6), shapely.box(0, 0, 10, 8)]  # IoU 0.6 and 0.8 with the same reference
    m = match_polygons(pred, ref, 0.5)
    assert m.pairs.tolist() == [[1, 0]] and m.ious[0] == pytest.approx(0.8)
    assert m.unmatched_pred.tolist() == [0]
    s = object_metrics(m)
    assert (s['tp'], s['fp'], s['fn']) == (1, 1, 0)
    assert s['precision'] == 0.5 and s['recall'] == 1.0 and s['f1'] == pytest.approx(2 / 3)


def test_greedy_keeps_a_full_matching():
    # pred 0 overlaps both references; the best pair (p0, r0) goes first, then p1 takes r1
    ref = [shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)]
    pred = [shapely.box(0, 0, 11, 10), shapely.box(10.5, 0, 20, 10)]
    m = match_polygons(pred, ref, 0.5)
    assert sorted(m.pairs.tolist()) == [[0, 0], [1, 1]]


def test_score_breaks_ties():
    ref = [shapely.box(0, 0, 10, 10)]
    pred = [shapely.box(0, 0, 10, 10), shapely.box(0, 0, 10, 10)]
    assert match_polygons(pred, ref, 0.5, pred_scores=[0.2, 0.9]).pairs.tolist() == [[1, 0]]
    assert match_polygons(pred, ref, 0.5, pred_scores=[0.9, 0.2]).pairs.tolist() == [[0, 0]]


def test_class_aware_matching_and_per_class_table():
    ref = [shapely.box(0, 0, 10, 10), shapely.box(20, 0, 30, 10)]
    pred = [shapely.box(0, 0, 10, 10), shapely.box(20, 0, 30, 10)]
    m = match_polygons(pred, ref, 0.5, pred_classes=[1, 1], ref_classes=[1, 2])
    assert m.pairs.tolist() == [[0, 0]]
    assert m.best_iou_pred[1] == 0 and m.best_iou_ref[1] == 0  # other-class overlap does not count
    s = object_metrics(m, [1, 1], [1, 2])
    assert (s['tp'], s['fp'], s['fn']) == (1, 1, 1)
    assert s['per_class'][1] == dict(precision=0.5, recall=1.0, f1=pytest.approx(2 / 3), mean_iou=1.0,
                                     tp=1, fp=1, fn=0)
    assert s['per_class'][2]['fn'] == 1 and s['per_class'][2]['recall'] == 0.0


def test_empty_inputs():
    m = match_polygons([], [shapely.box(0, 0, 1, 1)], 0.5)
    s = object_metrics(m)
    assert (s['tp'], s['fp'], s['fn'], s['precision'], s['recall'], s['f1']) == (0, 0, 1, 0.0, 0.0, 0.0)
    s = object_metrics(match_polygons([shapely.box(0, 0, 1, 1)], [], 0.5))
    assert (s['fp'], s['fn']) == (1, 0)
    with pytest.raises(ValueError):
        match_polygons([], [], 0)


def test_rotated_boxes_as_polygons():
    # a 4x2 box rotated by 90 degrees is the axis-aligned 2x4 box
    p = rbox_to_polygons([[5, 5, 4, 2, math.pi / 2]])[0]
    assert p.equals(shapely.box(4, 3, 6, 7))
    assert rbox_to_polygons([[5, 5, 4, 2, 0]])[0].equals(shapely.box(3, 4, 7, 6))
    # a square and the same square rotated by 45 degrees: IoU = 1 / sqrt(2)
    sq, rot = rbox_to_polygons([[0, 0, 2, 2, 0], [0, 0, 2, 2, math.pi / 4]])
    assert rot.area == pytest.approx(4)
    _, _, iou = pairwise_iou([rot], [sq])
    assert iou[0] == pytest.approx(1 / math.sqrt(2))
    m = match_polygons([rot], [sq], 0.7)
    assert len(m.pairs) == 1 and not len(match_polygons([rot], [sq], 0.75).pairs)


def test_bowtie_reference_after_repair():
    bowtie = Polygon([(0, 0), (10, 20), (10, 0), (0, 20), (0, 0)])
    assert not bowtie.is_valid
    (fixed,), n_fixed, n_bad = repair_polygons([bowtie])
    assert (n_fixed, n_bad) == (1, 0) and fixed.geom_type == 'MultiPolygon'
    assert fixed.area == pytest.approx(100)  # two triangles of 50
    tri = [Polygon([(0, 0), (5, 10), (0, 20)]), Polygon([(10, 0), (5, 10), (10, 20)])]
    m = match_polygons([shapely.MultiPolygon(tri)], [fixed], 0.99)
    assert len(m.pairs) == 1 and m.ious[0] == pytest.approx(1)
    # each triangle alone covers half the repaired reference: IoU 0.5, only one of them can match
    m = match_polygons(tri, [fixed], 0.5)
    assert len(m.pairs) == 1 and len(m.unmatched_pred) == 1 and m.ious[0] == pytest.approx(0.5)


def test_many_polygons_match_like_brute_force():
    rng = np.random.default_rng(0)
    ref = [shapely.box(x, y, x + 5, y + 5) for x, y in rng.uniform(0, 200, (60, 2))]
    pred = [shapely.box(x, y, x + w, y + w) for (x, y), w in zip(rng.uniform(0, 200, (70, 2)), rng.uniform(3, 7, 70))]
    pred += [shapely.affinity.translate(r, *rng.uniform(-1, 1, 2)) for r in ref[:30]]
    pi, ri, iou = pairwise_iou(pred, ref)
    brute = {(i, j): p.intersection(r).area / p.union(r).area for i, p in enumerate(pred)
             for j, r in enumerate(ref) if p.intersects(r) and p.intersection(r).area > 0}
    assert {(int(i), int(j)): v for i, j, v in zip(pi, ri, iou)} == pytest.approx(brute)
    m = match_polygons(pred, ref, 0.5)
    assert len(set(m.pairs[:, 0])) == len(m.pairs) == len(set(m.pairs[:, 1]))
    assert all(brute[(i, j)] >= 0.5 for i, j in m.pairs.tolist())
    assert len(m.pairs) >= 20  # most of the 30 jittered copies overlap their reference by IoU >= 0.5
