"""2-D Haar discrete wavelet transform as fixed stride-2 convolutions (pure torch, differentiable).

One level of the orthonormal Haar DWT with the 1-D filters ``f_low = [1, 1] / sqrt(2)`` and
``f_high = [1, -1] / sqrt(2)``. The 2-D analysis kernels are outer products of the filter along rows
(height, y) with the filter along columns (width, x)::

    LL = f_low(y)  x f_low(x)  = [[ 1,  1], [ 1,  1]] / 2   approximation (local mean x 2)
    LH = f_high(y) x f_low(x)  = [[ 1,  1], [-1, -1]] / 2   horizontal edges (pywt's cH)
    HL = f_low(y)  x f_high(x) = [[ 1, -1], [ 1, -1]] / 2   vertical edges   (pywt's cV)
    HH = f_high(y) x f_high(x) = [[ 1, -1], [-1,  1]] / 2   diagonal detail  (pywt's cD)

Each band is a 2x2 convolution with stride 2 applied to every channel separately. The four kernels form
an orthonormal basis of each 2x2 block, so the inverse (synthesis) transform is the transposed convolution
with the same kernels and ``haar_idwt2d(haar_dwt2d(x)) == x`` up to float rounding (perfect
reconstruction). Odd sizes are padded (replicate) before the analysis; pass ``size`` to the inverse to
crop back.

Up to sign conventions the bands equal ``pywt.dwt2(x, 'haar')`` (no pywt/pytorch_wavelets needed).

.. versionadded:: 0.1
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def haar_kernels(dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> Tensor:
    """The four 2x2 analysis kernels stacked as a conv weight ``(4, 1, 2, 2)`` in order LL, LH, HL, HH."""
    lo = torch.tensor([1.0, 1.0], dtype=torch.float64) / math.sqrt(2.0)
    hi = torch.tensor([1.0, -1.0], dtype=torch.float64) / math.sqrt(2.0)
    # outer(row filter along y, column filter along x)
    k = torch.stack([torch.outer(lo, lo), torch.outer(hi, lo), torch.outer(lo, hi), torch.outer(hi, hi)])
    return k.unsqueeze(1).to(dtype=dtype, device=device)  # (4, 1, 2, 2)


def haar_dwt2d(x: Tensor, pad_mode: str = 'replicate') -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One-level 2-D Haar DWT of every channel.

    Args:
        x: ``(B, C, H, W)`` float tensor. Odd ``H`` or ``W`` are padded at the bottom/right with
            ``pad_mode`` to an even size first.
        pad_mode: ``F.pad`` mode for odd sizes (``'replicate'``, ``'reflect'``, ``'constant'``).

    Returns:
        ``(LL, LH, HL, HH)``, each ``(B, C, ceil(H/2), ceil(W/2))``.
    """
    B, C, H, W = x.shape
    ph, pw = H % 2, W % 2
    if ph or pw:
        if pad_mode == 'reflect' and (H < 2 or W < 2):
            pad_mode = 'replicate'
        x = F.pad(x, (0, pw, 0, ph), mode=pad_mode)
    Hp, Wp = x.shape[-2:]
    w = haar_kernels(x.dtype, x.device)
    y = F.conv2d(x.reshape(B * C, 1, Hp, Wp), w, stride=2)  # (B*C, 4, Hp/2, Wp/2)
    y = y.reshape(B, C, 4, Hp // 2, Wp // 2)
    return y[:, :, 0], y[:, :, 1], y[:, :, 2], y[:, :, 3]


def haar_idwt2d(ll: Tensor, lh: Tensor, hl: Tensor, hh: Tensor,
                size: tuple[int, int] | None = None) -> Tensor:
    """Inverse of :func:`haar_dwt2d`.

    Args:
        ll, lh, hl, hh: ``(B, C, h, w)`` sub-bands.
        size: optional ``(H, W)`` of the original input, to crop away the padding of odd sizes.

    Returns:
        ``(B, C, 2h, 2w)`` (or ``(B, C, *size)``).
    """
    B, C, h, w = ll.shape
    y = torch.stack([ll, lh, hl, hh], dim=2).reshape(B * C, 4, h, w)
    x = F.conv_transpose2d(y, haar_kernels(y.dtype, y.device), stride=2)  # (B*C, 1, 2h, 2w)
    x = x.reshape(B, C, 2 * h, 2 * w)
    if size is not None:
        x = x[..., :size[0], :size[1]]
    return x


class HaarDWT2d(torch.nn.Module):
    """Module form of :func:`haar_dwt2d` (no parameters)."""

    def __init__(self, pad_mode: str = 'replicate') -> None:
        super().__init__()
        self.pad_mode = pad_mode

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return haar_dwt2d(x, self.pad_mode)


class HaarIDWT2d(torch.nn.Module):
    """Module form of :func:`haar_idwt2d` (no parameters)."""

    def forward(self, ll: Tensor, lh: Tensor, hl: Tensor, hh: Tensor,
                size: tuple[int, int] | None = None) -> Tensor:
        return haar_idwt2d(ll, lh, hl, hh, size)


__all__ = ['haar_kernels', 'haar_dwt2d', 'haar_idwt2d', 'HaarDWT2d', 'HaarIDWT2d']
