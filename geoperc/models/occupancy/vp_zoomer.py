"""VPZoomer: the vanishing-point image warp of VPOcc and the matching warp of voxel projections.

Kim et al., "VPOcc: Exploiting Vanishing Point for 3D Semantic Occupancy Prediction", IROS 2025
(arXiv 2408.03551); official ``ssc_pl/vpocc/segmentors/side_warping_symphonies.py`` (summarised in
the project's design notes on VPOcc).

For an image of ``h x w`` and a vanishing point ``v = (vx, vy)`` with ``b = h * alpha / 2`` (alpha 0.2):

* left half: the quad ``(vx, vy - b), (vx, vy + b), (0, h), (0, 0)`` goes to the rectangle
  ``(w/2, up), (w/2, low), (0, low), (0, up)`` with ``up = (vy - b) / 2`` and ``low = (vy + b + h) / 2``;
* right half: the mirror, with ``(w, h), (w, 0)`` and ``(w, low), (w, up)``.

So the thin vertical band of height ``2b`` through the VP is stretched to the centre column band
``[up, low]`` and the image borders are pulled inwards: far-away content around the VP is magnified.
The warped image takes columns ``< int(w/2)`` from the left warp and the rest from the right warp.

The official code uses kornia (``get_perspective_transform`` + ``warp_perspective``, bilinear, zero
padding, ``align_corners=True`` pixel convention). Here the homography is a direct 8x8 linear solve
(DLT with h33 = 1, batched) and the warp an inverse-mapped ``grid_sample`` with the same conventions,
so no kornia is needed. Voxel projections are warped with the same matrices
(:func:`warp_points`): points in the left half (``0 < x <= int(w/2)``) with ``M_left``, in the right
half (``int(w/2) < x < w``) with ``M_right``, and points leaving the image are flagged invalid, as
the official ``VPOccDecoder.apply_homography`` does.
"""
from typing import Dict, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['perspective_transform', 'vp_zoom_quads', 'vp_zoom_homographies', 'warp_image', 'warp_points',
           'apply_homography', 'VPZoomer']


def perspective_transform(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Homographies ``(B, 3, 3)`` mapping 4 ``src`` points to 4 ``dst`` points (both ``(B, 4, 2)``).

    Solves the 8 DLT equations with ``h33 = 1`` in float64 (the same matrix kornia's
    ``get_perspective_transform`` returns)."""
    src = src.double()
    dst = dst.double()
    B = src.shape[0]
    x, y = src[..., 0], src[..., 1]
    u, v = dst[..., 0], dst[..., 1]
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y], -1)  # (B, 4, 8)
    rows_v = torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y], -1)
    A = torch.cat([rows_u, rows_v], 1)  # (B, 8, 8)
    b = torch.cat([u, v], 1).unsqueeze(-1)  # (B, 8, 1)
    h = torch.linalg.solve(A, b).squeeze(-1)
    M = torch.cat([h, torch.ones(B, 1, dtype=h.dtype, device=h.device)], 1).reshape(B, 3, 3)
    return M


def vp_zoom_quads(vp: torch.Tensor, image_shape: Tuple[int, int], alpha: float = 0.2
                  ) -> Dict[str, torch.Tensor]:
    """Source and destination quads ``(B, 4, 2)`` of the left and right VPZoomer homographies."""
    h, w = image_shape
    vp = vp.reshape(-1, 2).double()
    vx, vy = vp[:, 0], vp[:, 1]
    b = h * alpha / 2
    cw = float(int(w / 2))
    up = (vy - b) / 2
    low = (vy + b + h) / 2
    full = lambda v: torch.full_like(vx, float(v))  # noqa: E731
    src_l = torch.stack([torch.stack([vx, vy - b], -1), torch.stack([vx, vy + b], -1),
                         torch.stack([full(0), full(h)], -1), torch.stack([full(0), full(0)], -1)], 1)
    src_r = torch.stack([torch.stack([vx, vy - b], -1), torch.stack([vx, vy + b], -1),
                         torch.stack([full(w), full(h)], -1), torch.stack([full(w), full(0)], -1)], 1)
    dst_l = torch.stack([torch.stack([full(cw), up], -1), torch.stack([full(cw), low], -1),
                         torch.stack([full(0), low], -1), torch.stack([full(0), up], -1)], 1)
    dst_r = torch.stack([torch.stack([full(cw), up], -1), torch.stack([full(cw), low], -1),
                         torch.stack([full(w), low], -1), torch.stack([full(w), up], -1)], 1)
    return dict(src_left=src_l, dst_left=dst_l, src_right=src_r, dst_right=dst_r)


def vp_zoom_homographies(vp: torch.Tensor, image_shape: Tuple[int, int], alpha: float = 0.2
                         ) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(M_left, M_right)``, each ``(B, 3, 3)`` float64, source pixel -> warped pixel."""
    q = vp_zoom_quads(vp, image_shape, alpha)
    return perspective_transform(q['src_left'], q['dst_left']), perspective_transform(q['src_right'], q['dst_right'])


def warp_image(img: torch.Tensor, M: torch.Tensor, out_shape: Tuple[int, int] = None) -> torch.Tensor:
    """Warp ``img`` ``(B, C, H, W)`` by homographies ``M`` (source -> destination pixels): each output
    pixel ``p`` takes the bilinear sample of ``img`` at ``M^-1 p`` (zeros outside), as kornia's
    ``warp_perspective`` (``align_corners=True``)."""
    B, C, H, W = img.shape
    oh, ow = out_shape or (H, W)
    Minv = torch.linalg.inv(M.double())
    ys, xs = torch.meshgrid(torch.arange(oh, dtype=torch.float64, device=img.device),
                            torch.arange(ow, dtype=torch.float64, device=img.device), indexing='ij')
    pts = torch.stack([xs, ys, torch.ones_like(xs)], -1).reshape(1, -1, 3)
    src = pts @ Minv.transpose(1, 2)  # (B, N, 3)
    src = src[..., :2] / src[..., 2:3]
    gx = src[..., 0] / max(W - 1, 1) * 2 - 1
    gy = src[..., 1] / max(H - 1, 1) * 2 - 1
    grid = torch.stack([gx, gy], -1).reshape(B, oh, ow, 2).to(img.dtype)
    return F.grid_sample(img, grid, mode='bilinear', padding_mode='zeros', align_corners=True)


def warp_points(points: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """Apply homographies ``M`` ``(B, 3, 3)`` to pixel points ``(B, N, 2)``."""
    hom = torch.cat([points.double(), torch.ones_like(points[..., :1], dtype=torch.float64)], -1)
    out = hom @ M.double().transpose(1, 2)
    return (out[..., :2] / out[..., 2:3]).to(points.dtype)


def apply_homography(points: torch.Tensor, M_left: torch.Tensor, M_right: torch.Tensor,
                     image_shape: Tuple[int, int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Warp voxel projections ``(B, N, 2)`` (x, y pixels) as the warped image was warped.

    Returns ``(warped points (B, N, 2), inside (B, N) bool)``: points in the left half (``0 < x <=
    int(w/2)``, ``0 < y < h``) go through ``M_left``, right-half points through ``M_right``, others stay;
    ``inside`` is False for points ending outside the open image rectangle."""
    h, w = image_shape
    cw = int(w / 2)
    x, y = points[..., 0], points[..., 1]
    in_y = (y > 0) & (y < h)
    mask_l = (x > 0) & (x <= cw) & in_y
    mask_r = (x > cw) & (x < w) & in_y
    pl = warp_points(points, M_left)
    pr = warp_points(points, M_right)
    out = torch.where(mask_l[..., None], pl, torch.where(mask_r[..., None], pr, points))
    inside = (out[..., 1] > 0) & (out[..., 1] < h) & (out[..., 0] > 0) & (out[..., 0] < w)
    return out, inside


class VPZoomer(nn.Module):
    """The VPZoomer image warp (no parameters).

    Args:
        alpha: relative height of the VP band (0.2 in VPOcc).

    ``forward(img (B, C, H, W), vp (B, 2))`` -> ``(warped image, dict(M_left, M_right))``.
    """

    def __init__(self, alpha: float = 0.2):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, img: torch.Tensor, vp: torch.Tensor):
        H, W = img.shape[-2:]
        M_l, M_r = vp_zoom_homographies(vp, (H, W), self.alpha)
        left = warp_image(img, M_l)
        right = warp_image(img, M_r)
        cw = int(W / 2)
        out = torch.cat([left[..., :cw], right[..., cw:]], -1)
        return out, dict(M_left=M_l, M_right=M_r)

    def extra_repr(self) -> str:
        return f'alpha={self.alpha}'
