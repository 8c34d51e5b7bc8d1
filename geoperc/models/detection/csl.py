"""Circular Smooth Label (CSL) angle coder, as ARS-DETR uses it (le90, 180 bins).

Yang & Yan, "Arbitrary-Oriented Object Detection with Circular Smooth Label", ECCV 2020; the
``'aspect_ratio'`` window is ARS-DETR's (Zeng et al., "ARS-DETR: Aspect Ratio-Sensitive Detection
Transformer for Aerial Oriented Object Detection", TGRS 2024), read from the official
``httle/ARS-DETR`` ``CSLCoder`` and re-written here.

An le90 angle ``a`` (radians, ``[-pi/2, pi/2)``) falls in bin ``floor((deg(a) + 90) / omega)`` of
``180 / omega`` bins. The target is a *soft* label spread around that bin (circularly: bin 0 and bin 179
are neighbours, because a box turned by 180 degrees is the same box):

* ``'gaussian'``: ``exp(-d^2 / (2 r^2))`` over all offsets ``d``;
* ``'triangle'`` / ``'rect'``: ``1 - |d| / r`` / ``1`` for ``-r <= d < r``; ``'pulse'``: the bin only;
* ``'aspect_ratio'`` (ARS-DETR): the value at offset ``d`` is the IoU between a box of the target's
  aspect ratio ``k = max(w/h, h/w)`` and the same box turned by ``d`` degrees (closed form, two regimes
  split at the critical angle ``2 (pi/2 - atan k)``); with ``normalize=True`` each row is rescaled to
  ``[0, 1]`` (``(v - min) / (1 - min)``); only offsets within ``refine_range`` bins are kept (default
  ``180 / omega // 2``: every offset). A square box therefore gets a flat-ish label (its angle barely
  matters), a long thin box a sharp one.

The official coder takes ``radius`` for every window but the aspect-ratio window never reads it (the
ARS-DETR / MutDet configs pass ``radius=6`` with ``window='aspect_ratio'``); it is kept here for the
other windows, and ``refine_range`` is the aspect-ratio window's width.

Decoding takes the arg-max bin's centre: ``(idx + 0.5) * omega - 90`` degrees; encode -> decode is
exact to half a bin.
"""
import math
from typing import Optional

import torch

__all__ = ['CSLCoder', 'wrap_le90']


def wrap_le90(angle: torch.Tensor) -> torch.Tensor:
    """Bring angles (radians) into ``[-pi/2, pi/2)`` (period pi)."""
    return torch.remainder(angle + math.pi / 2, math.pi) - math.pi / 2


class CSLCoder:
    """CSL encoder / decoder for le90 angles.

    Args:
        omega: bin width in degrees (ARS-DETR: 1, so 180 bins).
        window: ``'aspect_ratio'`` (ARS-DETR), ``'gaussian'``, ``'triangle'``, ``'rect'`` or ``'pulse'``.
        radius: window radius in bins (gaussian sigma; triangle / rect half width). Not used by the
            aspect-ratio window (as in the official coder).
        refine_range: aspect-ratio window half width in bins (default ``coding_len // 2``: all).
        normalize: rescale each aspect-ratio row to ``[0, 1]`` (ARS-DETR configs: True).
    """

    angle_range = 180
    angle_offset = 90  # le90

    def __init__(self, omega: float = 1, window: str = 'aspect_ratio', radius: float = 6,
                 refine_range: Optional[int] = None, normalize: bool = True):
        if window not in ('aspect_ratio', 'gaussian', 'triangle', 'rect', 'pulse'):
            raise ValueError(f'unknown CSL window {window!r}')
        if self.angle_range % omega:
            raise ValueError(f'omega={omega} must divide 180')
        self.omega = omega
        self.window = window
        self.radius = radius
        self.coding_len = int(self.angle_range // omega)
        self.refine_range = self.coding_len // 2 if refine_range is None else int(refine_range)
        self.normalize = normalize

    def __repr__(self) -> str:
        return (f'CSLCoder(omega={self.omega}, window={self.window!r}, radius={self.radius}, '
                f'refine_range={self.refine_range}, normalize={self.normalize})')

    # -- encode -----------------------------------------------------------------------------------
    def angle_to_bin(self, angle: torch.Tensor) -> torch.Tensor:
        """Bin index (long) of le90 angles (radians)."""
        deg = torch.rad2deg(wrap_le90(angle))
        return (torch.floor((deg + self.angle_offset) / self.omega).long()) % self.coding_len

    def aspect_ratio_smooth(self, aspect_ratio: torch.Tensor) -> torch.Tensor:
        """``(N,)`` aspect ratios (>= 1) -> ``(N, coding_len)`` window values for offsets
        ``-coding_len/2 .. coding_len/2 - 1`` (centre at column ``coding_len // 2``)."""
        n = self.coding_len
        half = n // 2
        k = aspect_ratio.reshape(-1, 1).float().clamp(min=1.0)
        offs = torch.arange(-half, n - half, device=k.device, dtype=torch.float32) * self.omega
        th = torch.deg2rad(offs.abs())
        th[half] = 1e-6  # the zero offset: avoid 0/0
        th = th.reshape(1, -1)
        # regime 1 (large turn): the overlap is a rhombus of the short sides
        iou1 = 4.0 / (8.0 * k * torch.sin(th) - 4.0)
        # regime 2 (small turn): the overlap is the box minus four corner triangles
        x = (1.0 - k * torch.tan(th / 2)) * torch.tan(th)
        y = (-2.0 * torch.sin(th / 2) ** 2 + k * torch.sin(th)) / torch.cos(th)
        iou2 = (4.0 * k * torch.tan(th) - x * x - y * y) / (4.0 * k * torch.tan(th) + x * x + y * y)
        crit = (2.0 * (math.pi / 2 - torch.atan(k)) / math.pi * 180.0 / self.omega).long()  # (N, 1)
        dist = (torch.arange(n, device=k.device) - half).abs().reshape(1, -1)
        val = torch.where(dist <= crit, iou2, iou1)
        if self.normalize:
            vmin = val.min(dim=1, keepdim=True).values
            val = (val - vmin) / (1.0 - vmin).clamp(min=1e-6)
        keep = dist <= (self.refine_range // 1)
        return torch.where(keep, val, torch.zeros_like(val))

    def encode(self, angle: torch.Tensor, aspect_ratio: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``(N,)`` le90 angles (radians) -> ``(N, coding_len)`` soft labels.

        Args:
            aspect_ratio: ``(N,)`` ``max(w/h, h/w)``; required by the ``'aspect_ratio'`` window.
        """
        angle = angle.reshape(-1)
        n = self.coding_len
        centre = self.angle_to_bin(angle).reshape(-1, 1)
        label = angle.new_zeros(len(angle), n)
        if len(angle) == 0:
            return label
        if self.window == 'pulse':
            return label.scatter(1, centre, 1.0)
        if self.window == 'aspect_ratio':
            if aspect_ratio is None:
                raise ValueError("CSLCoder(window='aspect_ratio').encode needs aspect_ratio")
            offs = torch.arange(-(n // 2), n - n // 2, device=angle.device)
            val = self.aspect_ratio_smooth(aspect_ratio).to(label.dtype)
        elif self.window == 'gaussian':
            offs = torch.arange(-(n // 2), n - n // 2, device=angle.device)
            val = torch.exp(-offs.float() ** 2 / (2 * self.radius ** 2)).to(label.dtype).expand(len(angle), -1)
        else:
            r = int(self.radius)
            offs = torch.arange(-r, r, device=angle.device)
            w = torch.ones(len(offs)) if self.window == 'rect' else 1.0 - (offs.float() / r).abs()
            val = w.to(label.device, label.dtype).expand(len(angle), -1)
        idx = (centre + offs.reshape(1, -1)) % n
        return label.scatter(1, idx, val.contiguous())

    # -- decode -----------------------------------------------------------------------------------
    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """``(..., coding_len)`` scores -> ``(...)`` le90 angles (radians) at the arg-max bin's centre."""
        idx = logits.argmax(dim=-1)
        deg = ((idx.to(logits.dtype) + 0.5) * self.omega) % self.angle_range - self.angle_offset
        return torch.deg2rad(deg)
