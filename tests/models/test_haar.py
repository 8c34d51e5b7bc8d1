import math

import pytest
import torch

from geoperc.ops.haar import HaarDWT2d, HaarIDWT2d, haar_dwt2d, haar_idwt2d, haar_kernels


def test_kernels_orthonormal():
    k = haar_kernels(torch.float64).reshape(4, 4)
    assert torch.allclose(k @ k.T, torch.eye(4, dtype=torch.float64))


def test_bands_by_hand():
    # one 2x2 block [[a, b], [c, d]]
    a, b, c, d = 1.0, 2.0, 3.0, 5.0
    x = torch.tensor([[[[a, b], [c, d]]]])
    ll, lh, hl, hh = haar_dwt2d(x)
    assert ll.item() == pytest.approx((a + b + c + d) / 2)
    assert lh.item() == pytest.approx((a + b - c - d) / 2)  # high-pass along rows: horizontal edge
    assert hl.item() == pytest.approx((a - b + c - d) / 2)  # high-pass along columns: vertical edge
    assert hh.item() == pytest.approx((a - b - c + d) / 2)


@pytest.mark.parametrize('shape', [(2, 3, 8, 8), (1, 5, 16, 6), (2, 2, 7, 9), (1, 1, 1, 3)])
def test_perfect_reconstruction(shape):
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64)
    bands = haar_dwt2d(x)
    h, w = math.ceil(shape[2] / 2), math.ceil(shape[3] / 2)
    assert all(b.shape == (shape[0], shape[1], h, w) for b in bands)
    y = haar_idwt2d(*bands, size=shape[-2:])
    assert y.shape == x.shape
    assert torch.allclose(y, x, atol=1e-12)
    # energy is preserved (orthonormal) for even sizes
    if shape[2] % 2 == 0 and shape[3] % 2 == 0:
        assert torch.allclose(sum((b ** 2).sum() for b in bands), (x ** 2).sum())


def test_constant_image_has_no_detail():
    ll, lh, hl, hh = haar_dwt2d(torch.full((1, 2, 6, 6), 3.0))
    assert torch.allclose(ll, torch.full_like(ll, 6.0))
    assert all(b.abs().max() < 1e-6 for b in (lh, hl, hh))


def test_gradients_and_modules():
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    y = HaarIDWT2d()(*HaarDWT2d()(x))
    (y ** 2).sum().backward()
    assert torch.allclose(x.grad, 2 * x.detach(), atol=1e-5)  # identity map -> d(sum x^2)/dx = 2x
