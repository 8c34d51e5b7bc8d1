"""SSC losses against hand computations (numpy, written from the MonoScene definitions)."""
import math

import numpy as np
import torch

from geoperc.models.occupancy.losses import (SEMANTIC_KITTI_CLASS_FREQ, SSCLoss, class_weights_from_freq, geo_scal_loss,
                                             sem_scal_loss)


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _bce1(p):
    return -math.log(max(p, 1e-12))


def test_hand_computed():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 2, 2, 2))
    target = rng.integers(0, 3, (2, 2, 2, 2))
    target[0, 0, 0, 0] = 255
    target[1, 1, 1, 1] = 255
    w = np.array([0.5, 1.0, 2.0])
    out = SSCLoss(w)(torch.tensor(logits, dtype=torch.float32), torch.tensor(target))
    p = _softmax(logits).transpose(0, 2, 3, 4, 1).reshape(-1, 3)
    t = target.reshape(-1)
    v = t != 255
    p, t = p[v], t[v]
    ce = -(w[t] * np.log(p[np.arange(len(t)), t])).sum() / w[t].sum()
    assert abs(out['loss_ce'].item() - ce) < 1e-5
    sem, cnt = 0.0, 0
    for c in range(3):
        tc = (t == c).astype(float)
        if tc.sum() == 0:
            continue
        cnt += 1
        pc = p[:, c]
        sem += _bce1((pc * tc).sum() / pc.sum()) + _bce1((pc * tc).sum() / tc.sum())
        sem += _bce1(((1 - pc) * (1 - tc)).sum() / (1 - tc).sum())
    assert abs(out['loss_sem_scal'].item() - sem / cnt) < 1e-5
    occ = 1 - p[:, 0]
    to = (t != 0).astype(float)
    geo = _bce1((occ * to).sum() / occ.sum()) + _bce1((occ * to).sum() / to.sum())
    geo += _bce1(((1 - to) * p[:, 0]).sum() / (1 - to).sum())
    assert abs(out['loss_geo_scal'].item() - geo) < 1e-5


def test_perfect_prediction_is_near_zero_and_weights():
    target = torch.tensor([[[[0, 1], [2, 255]]]])
    logits = torch.full((1, 3, 1, 2, 2), -20.0)
    for c in range(3):
        logits[:, c][target == c] = 20.0
    assert sem_scal_loss(logits, target) < 1e-6 and geo_scal_loss(logits, target) < 1e-6
    w = class_weights_from_freq(SEMANTIC_KITTI_CLASS_FREQ)
    assert w.shape == (20,) and abs(w[0].item() - 1 / math.log(5.41773033e09)) < 1e-7
    assert set(SSCLoss()(logits, target)) == {'loss_ce', 'loss_sem_scal', 'loss_geo_scal'}
