"""BerHu against hand-computed values (official supervision/direct.py conventions)."""
import pytest
import torch

from geoperc.models.depth import BerHuLoss, berhu_loss


def test_berhu_hand_computed():
    pred = torch.tensor([[[[1.0, 2.0, 3.0, 0.0]]]])
    gt = torch.tensor([[[[1.5, 2.0, 8.0, 4.0]]]])
    mask = torch.tensor([[[[1, 1, 1, 0]]]], dtype=torch.bool)
    # target zeroed where invalid: diff = [0.5, 0, 5, 0]; c = 5 / 5 = 1 over all pixels
    # per pixel: 0.5 (L1), 0, (25 + 1) / 2 = 13 (L2 branch); invalid pixel masked; / 3 valid
    assert berhu_loss(pred, gt, mask).item() == pytest.approx((0.5 + 0 + 13) / 3)
    # c from every pixel: an invalid pixel with a large prediction raises c (official behaviour)
    pred2 = pred.clone()
    pred2[..., 3] = 10.0  # |0 - 10| = 10 -> c = 2
    assert berhu_loss(pred2, gt, mask).item() == pytest.approx((0.5 + 0 + (25 + 4) / 4) / 3)
    assert berhu_loss(pred2, gt, mask, c_from='valid').item() == pytest.approx((0.5 + 0 + 13) / 3)


def test_berhu_batch_mean_of_sample_means_and_gradient():
    pred = torch.tensor([[[[1.0, 1.0]]], [[[2.0, 0.0]]]], requires_grad=True)
    gt = torch.tensor([[[[2.0, 1.0]]], [[[2.0, 3.0]]]])
    mask = torch.ones(2, 1, 1, 2, dtype=torch.bool)
    # diffs [1, 0], [0, 3]; c = 3/5 = 0.6: 1 -> (1 + .36) / 1.2; 3 -> (9 + .36) / 1.2
    a = ((1 + 0.36) / 1.2 + 0) / 2
    b = (0 + (9 + 0.36) / 1.2) / 2
    loss = BerHuLoss()(pred, gt, mask)
    assert loss.item() == pytest.approx((a + b) / 2, rel=1e-6)
    loss.backward()
    # d/dpred of (d^2 + c^2) / 2c with d = gt - pred: -d / c, / 2 pixels, / 2 samples
    assert pred.grad[0, 0, 0, 0].item() == pytest.approx(-(1 / 0.6) / 4, rel=1e-5)
    assert pred.grad[1, 0, 0, 1].item() == pytest.approx(-(3 / 0.6) / 4, rel=1e-5)


def test_berhu_edge_cases():
    pred = torch.ones(1, 1, 2, 2)
    assert berhu_loss(pred, pred.clone(), torch.ones_like(pred, dtype=torch.bool)).item() == 0.0  # c = 0
    empty = torch.zeros_like(pred, dtype=torch.bool)
    assert berhu_loss(pred, pred + 1, empty).item() == 0.0
    with pytest.raises(ValueError):
        berhu_loss(pred, pred, empty, c_from='x')
