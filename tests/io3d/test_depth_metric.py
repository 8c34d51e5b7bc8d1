"""Depth errors under the UniFuse and OmniFusion protocols, against hand-computed answers."""
import math

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from geoperc.evaluation.functional import aggregate_depth_errors, depth_errors, get_depth_protocol
from geoperc.evaluation.metrics import DepthMetric
from geoperc.structures.geo_data_sample import GeoDataSample


def test_unifuse_hand_computed():
    gt = np.array([[1.0, 2.0, 4.0, 0.0, 12.0]])  # 0: no data; 12 m > max_depth 10: not valid
    pred = np.array([[1.1, 1.5, 5.0, 3.0, 3.0]])
    e = depth_errors(pred, gt, protocol='unifuse')
    assert e['n'] == 3
    assert e['abs_rel'] == pytest.approx((0.1 + 0.25 + 0.25) / 3)
    assert e['sq_rel'] == pytest.approx((0.01 + 0.125 + 0.25) / 3)
    assert e['rmse'] == pytest.approx(math.sqrt((0.01 + 0.25 + 1.0) / 3))
    assert e['abs'] == pytest.approx((0.1 + 0.5 + 1.0) / 3)
    rl = [math.log10(1.1), math.log10(1.5 / 2), math.log10(5 / 4)]
    assert e['rmse_log'] == pytest.approx(math.sqrt(sum(v * v for v in rl) / 3))  # log10 in UniFuse
    assert e['log10'] == pytest.approx(sum(abs(v) for v in rl) / 3)
    assert e['delta1'] == pytest.approx(1 / 3)  # ratios 1.1, 1.33, 1.25 (1.25 is not < 1.25)
    assert e['delta2'] == e['delta3'] == pytest.approx(1.0)


def test_unifuse_clipping_as_written():
    # g and p clipped below at 0.1; g[p > 10] = 10 (the code clips the target where the prediction is large)
    e = depth_errors(np.array([12.0, 0.05]), np.array([5.0, 0.08]), protocol='unifuse')
    assert e['abs_rel'] == pytest.approx((abs(12 - 10) / 10 + 0) / 2)
    # median alignment (UniFuse --median_align) after clipping: a scaled prediction becomes exact
    e = depth_errors(np.array([2.0, 4.0, 8.0]), np.array([1.0, 2.0, 4.0]), protocol='unifuse',
                     median_scaling=True)
    assert e['scale'] == pytest.approx(0.5) and e['abs_rel'] == pytest.approx(0.0)


def test_median_is_torch_lower_median():
    gt, pred = np.array([1.0, 2.0, 3.0, 4.0]), np.ones(4)
    assert torch.median(torch.tensor(gt)).item() == 2.0  # what both official codes call
    e = depth_errors(pred, gt, protocol='unifuse', median_scaling=True)
    assert e['scale'] == pytest.approx(2.0)  # numpy's median (2.5) would give 2.5
    assert e['abs_rel'] == pytest.approx((1 / 1 + 0 + 1 / 3 + 2 / 4) / 4)


def test_omnifusion_mask_log_and_pooling():
    p = get_depth_protocol('omnifusion', median_scaling=False)
    gt = np.array([0.3, 8.0, 8.01, 1.0, math.e])  # 0.3 not > min 0.3; 8.0 valid; 8.01 > max 8
    pred = np.array([5.0, 8.0, 1.0, math.e, 0.0])  # pred 0: no log term, delta fails
    e = depth_errors(pred, gt, protocol=p)
    assert e['n'] == 3 and e['n_log'] == 2
    assert e['mse_log'] == pytest.approx(0.5)  # natural log: (1 - 0)^2 and 0, over the 2 positive pixels
    assert e['delta1'] == pytest.approx(1 / 3)
    assert e['abs_rel'] == pytest.approx((0 + (math.e - 1) / 1 + 1) / 3)
    # pooling: per-group means weighted by valid pixels, RMSE = sqrt(pooled MSE)
    a = depth_errors(np.array([2.0, 2.0]), np.array([1.0, 2.0]), protocol=p)
    b = depth_errors(np.array([4.0, 4.0, 4.0, 2.0]), np.array([4.0, 4.0, 4.0, 4.0]), protocol=p)
    assert (a['abs_rel'], a['mse'], b['abs_rel'], b['mse']) == pytest.approx((0.5, 0.5, 0.125, 1.0))
    agg = aggregate_depth_errors([a, b], p)
    assert agg['abs_rel'] == pytest.approx((0.5 * 2 + 0.125 * 4) / 6)
    assert agg['rmse'] == pytest.approx(math.sqrt((0.5 * 2 + 1.0 * 4) / 6))
    plain = aggregate_depth_errors([a, b], 'unifuse')  # mean of per-group RMSEs instead
    assert plain['rmse'] == pytest.approx((math.sqrt(0.5) + 1.0) / 2)
    empty = depth_errors(np.ones(2), np.zeros(2), protocol=p)
    assert empty['n'] == 0 and aggregate_depth_errors([a, empty], p)['groups'] == 1


def test_omnifusion_median_over_the_batch():
    gt = np.array([[[1.0, 1.0]], [[3.0, 3.0]]])
    pred = np.ones_like(gt)
    batch = depth_errors(pred, gt, protocol='omnifusion')  # one median for the batch: 1 / 1
    assert batch['scale'] == 1.0 and batch['abs_rel'] == pytest.approx((0 + 0 + 2 / 3 + 2 / 3) / 4)
    per_image = [depth_errors(pred[i], gt[i], protocol='omnifusion') for i in range(2)]
    assert aggregate_depth_errors(per_image)['abs_rel'] == pytest.approx(0.0)


def test_spherical_weights():
    gt = np.array([[1.0], [1.0]])
    pred = np.array([[2.0], [1.0]])
    w = np.array([[3.0], [1.0]])
    e = depth_errors(pred, gt, protocol='unifuse', weights=w)
    assert e['abs_rel'] == pytest.approx(0.75) and e['n'] == pytest.approx(4.0)


def _sample(pred, gt):
    s = GeoDataSample()
    s.gt_depth = PixelData(data=torch.tensor(gt, dtype=torch.float32)[None])
    s.pred_depth = PixelData(data=torch.tensor(pred, dtype=torch.float32)[None])
    return s


def test_depth_metric_groups():
    gts = [np.array([[1.0, 1.0]]), np.array([[3.0, 3.0]])]
    preds = [np.ones((1, 2)), np.ones((1, 2))]
    omni = DepthMetric('omnifusion')  # group='batch': median over the val batch, as the official scripts
    omni.process(None, [_sample(p, g) for p, g in zip(preds, gts)])
    assert omni.compute_metrics(omni.results)['abs_rel'] == pytest.approx(1 / 3)
    per_img = DepthMetric('omnifusion', group='image')
    per_img.process(None, [_sample(p, g) for p, g in zip(preds, gts)])
    assert per_img.compute_metrics(per_img.results)['abs_rel'] == pytest.approx(0.0)
    uni = DepthMetric('unifuse')
    uni.process(None, [s.to_dict() for s in (_sample(p, g) for p, g in zip(preds, gts))])  # dict samples too
    res = uni.compute_metrics(uni.results)
    assert res['abs_rel'] == pytest.approx((0 + 2 / 3) / 2) and set(res) >= {'rmse', 'rmse_log', 'delta1'}
    mp = DepthMetric('omnifusion', max_depth=10.0)  # Matterport3D
    assert mp.protocol.max_depth == 10.0
    sph = DepthMetric('unifuse', spherical_weighting=True)
    sph.process(None, [_sample(np.full((3, 4), 2.0), np.ones((3, 4)))])
    assert sph.compute_metrics(sph.results)['abs_rel'] == pytest.approx(1.0)
    with pytest.raises(ValueError, match='protocol'):
        DepthMetric('kitti')
