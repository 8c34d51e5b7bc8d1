import pytest
import torch
import torch.nn.functional as F

from geoperc.models.losses import BCEDiceLoss, CrossEntropyLoss, DiceLoss
from geoperc.registry import MODELS


def _target(B=2, H=8, W=8, ignore=True):
    t = torch.randint(0, 2, (B, H, W))
    if ignore:
        t[:, :2] = 255
    return t


def test_ce_matches_torch_and_weights():
    torch.manual_seed(0)
    logits = torch.randn(2, 2, 8, 8, requires_grad=True)
    t = _target()
    ref = F.cross_entropy(logits, t, ignore_index=255)  # mean over counted pixels
    assert CrossEntropyLoss(avg_non_ignore=True)(logits, t).item() == pytest.approx(ref.item(), rel=1e-6)
    # mmseg default: divide by all pixels
    n_valid = (t != 255).sum().item()
    loss = CrossEntropyLoss(loss_weight=0.3)(logits, t)
    assert loss.item() == pytest.approx(0.3 * ref.item() * n_valid / t.numel(), rel=1e-6)
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_ce_resizes_logits_and_builds_from_registry():
    loss = MODELS.build(dict(type='CrossEntropyLoss'))
    out = loss(torch.randn(2, 2, 4, 4), _target(H=16, W=16))
    assert out.ndim == 0 and torch.isfinite(out)


def test_dice_perfect_and_worst():
    t = _target(ignore=False)
    perfect = (t.float() * 2 - 1)[:, None] * 50  # confident and right
    assert DiceLoss(smooth=1e-6)(perfect, t).item() == pytest.approx(0.0, abs=1e-4)
    assert DiceLoss(smooth=1e-6)(-perfect, t).item() == pytest.approx(1.0, abs=1e-4)


def test_dice_ignores_pixels():
    t = _target()
    z = torch.randn(2, 1, 8, 8)
    z2 = z.clone()
    z2[:, :, :2] = 100.0  # only in ignored rows
    assert DiceLoss()(z, t).item() == pytest.approx(DiceLoss()(z2, t).item(), rel=1e-6)


def test_bce_dice_terms_and_gradients():
    t = _target()
    z = torch.randn(2, 1, 8, 8, requires_grad=True)
    out = BCEDiceLoss(bce_weight=1.0, dice_weight=0.5)(z, t)
    assert set(out) == {'loss_bce', 'loss_dice'}
    valid = t != 255
    ref = F.binary_cross_entropy_with_logits(z[:, 0][valid], t[valid].float())
    assert out['loss_bce'].item() == pytest.approx(ref.item(), rel=1e-5)
    sum(out.values()).backward()
    assert torch.isfinite(z.grad).all() and (z.grad[:, :, :2] == 0).all()


def test_bce_dice_rejects_two_channels():
    with pytest.raises(ValueError, match='single change logit'):
        BCEDiceLoss()(torch.randn(2, 2, 8, 8), _target())
