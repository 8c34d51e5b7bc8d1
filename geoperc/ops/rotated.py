"""Rotated boxes: the ``le90`` convention, box <-> polygon conversion and rotated NMS.

Convention (as mmrotate 1.x ``le90``): a box is ``(cx, cy, w, h, angle)`` in pixel coordinates
(x = column, y = row, y pointing down), ``angle`` in radians in ``[-pi/2, pi/2)``, ``w >= h`` (the width
is the longer side) and the width direction is ``(cos(angle), sin(angle))``. Corners are returned in the
mmrotate ``rbox2qbox`` order. With y pointing down a positive angle turns clockwise on screen, which is
what mmcv's rotated ops call ``clockwise=True`` (their default; the tests check it against shapely).

Rotated NMS runs :func:`mmcv.ops.nms_rotated` (compiled op). Over a whole scene it first splits the boxes
into groups whose axis-aligned envelopes connect (an STRtree query), because boxes in different groups
cannot suppress each other; greedy NMS per group is therefore exactly global greedy NMS, at a cost that
grows with the group sizes rather than quadratically with the scene.
"""
import math
from typing import Optional, Union

import numpy as np

__all__ = ['regularize_le90', 'rbox_to_corners', 'rbox_to_polygons', 'corners_to_rbox', 'nms_rotated',
           'grouped_nms_rotated', 'MMCV_OPS_HINT']

ArrayLike = Union[np.ndarray, 'torch.Tensor']  # noqa: F821

MMCV_OPS_HINT = ('rotated NMS needs mmcv built with its compiled ops (mmcv.ops.nms_rotated); install mmcv '
                 '2.1.x with ops (tools/install.sh builds it from source), then retry')


def _np(x) -> np.ndarray:
    if hasattr(x, 'detach'):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def regularize_le90(boxes: np.ndarray) -> np.ndarray:
    """Bring ``(N, 5)`` boxes to le90: ``w >= h`` and ``angle`` in ``[-pi/2, pi/2)``."""
    b = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 5)
    swap = b[:, 2] < b[:, 3]
    b[swap, 2], b[swap, 3] = b[swap, 3], b[swap, 2].copy()
    b[swap, 4] += math.pi / 2
    b[:, 4] = np.mod(b[:, 4] + math.pi / 2, math.pi) - math.pi / 2
    return b


def rbox_to_corners(boxes: ArrayLike) -> np.ndarray:
    """``(N, 5)`` rotated boxes -> ``(N, 4, 2)`` corner coordinates (x, y), float64."""
    b = _np(boxes).astype(np.float64).reshape(-1, 5)
    cx, cy, w, h, a = b.T
    c, s = np.cos(a), np.sin(a)
    v1 = np.stack([w / 2 * c, w / 2 * s], -1)    # half width along the box axis
    v2 = np.stack([-h / 2 * s, h / 2 * c], -1)   # half height, perpendicular
    ctr = np.stack([cx, cy], -1)
    return np.stack([ctr + v1 + v2, ctr + v1 - v2, ctr - v1 - v2, ctr - v1 + v2], axis=1)


def rbox_to_polygons(boxes: ArrayLike, corners_transform=None):
    """Rotated boxes -> shapely polygons (numpy object array).

    Args:
        boxes: ``(N, 5)`` le90 boxes in pixels.
        corners_transform: optional callable ``(N, 4, 2) -> (N, 4, 2)`` applied to the corners first
            (e.g. :func:`geoperc.io.raster.pixel_to_map_coords` bound to a transform).
    """
    import shapely
    corners = rbox_to_corners(boxes)
    if corners_transform is not None:
        corners = corners_transform(corners)
    if len(corners) == 0:
        return np.empty(0, dtype=object)
    ring = np.concatenate([corners, corners[:, :1]], axis=1)  # (N, 5, 2) closed rings
    return shapely.polygons(ring)


def corners_to_rbox(corners: ArrayLike) -> np.ndarray:
    """``(N, 4, 2)`` quadrilaterals (or ``(N, 8)``) -> ``(N, 5)`` le90 boxes (minimum-area rectangles)."""
    import cv2
    q = _np(corners).astype(np.float32).reshape(-1, 4, 2)
    out = np.zeros((len(q), 5), np.float64)
    for i, pts in enumerate(q):
        (cx, cy), (w, h), a = cv2.minAreaRect(pts)
        out[i] = (cx, cy, w, h, math.radians(a))
    return regularize_le90(out)


def _mmcv_nms_rotated():
    try:
        from mmcv.ops import nms_rotated as op
    except (ImportError, ModuleNotFoundError, OSError) as e:
        raise ImportError(f'{MMCV_OPS_HINT} (import failed: {e})') from e
    return op


def nms_rotated(boxes: ArrayLike, scores: ArrayLike, iou_thr: float,
                labels: Optional[ArrayLike] = None) -> np.ndarray:
    """Greedy rotated NMS (class-aware when ``labels`` is given) with :func:`mmcv.ops.nms_rotated`.

    Boxes are moved next to the origin before the op runs in float32 (IoU does not change under a
    translation), so scene-pixel coordinates of large rasters keep sub-pixel precision. mmcv 2.1's CPU op
    ignores its ``labels`` argument, so classes are separated here, one call per class.

    Args:
        boxes: ``(N, 5)`` le90 boxes.
        scores: ``(N,)`` scores.
        iou_thr: boxes overlapping a kept, higher-scoring box with IoU above this are removed.
        labels: ``(N,)`` integer classes; boxes of different classes never suppress each other.

    Returns:
        Indices of the kept boxes (int64), highest score first.

    Raises:
        ImportError: mmcv's compiled ops are not available (with how to get them).
    """
    import torch
    op = _mmcv_nms_rotated()
    b = _np(boxes).astype(np.float64).reshape(-1, 5).copy()
    s = _np(scores).astype(np.float64).reshape(-1)
    if len(b) == 0:
        return np.zeros(0, np.int64)
    b[:, :2] -= b[:, :2].min(axis=0)
    groups = [np.arange(len(b))] if labels is None else \
        [np.flatnonzero(_np(labels).reshape(-1) == c) for c in np.unique(_np(labels))]
    kept = []
    for idx in groups:
        # le90 with y pointing down is what mmcv calls clockwise (its default): checked against shapely
        _, keep = op(torch.as_tensor(b[idx], dtype=torch.float32), torch.as_tensor(s[idx], dtype=torch.float32),
                     float(iou_thr), clockwise=True)
        kept.append(idx[_np(keep).astype(np.int64)])
    keep = np.concatenate(kept)
    return keep[np.argsort(-s[keep], kind='stable')]


def _components(env: np.ndarray) -> np.ndarray:
    """Connected components of intersecting axis-aligned envelopes ``(N, 4)`` (x0, y0, x1, y1)."""
    import shapely
    N = len(env)
    geoms = shapely.box(env[:, 0], env[:, 1], env[:, 2], env[:, 3])
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate='intersects')
    keep = i != j
    i, j = i[keep], j[keep]
    lab = np.arange(N)
    while True:  # min-label propagation with pointer jumping
        old = lab.copy()
        np.minimum.at(lab, i, lab[j])
        np.minimum.at(lab, j, lab[i])
        lab = lab[lab]
        if np.array_equal(lab, old):
            return lab


def grouped_nms_rotated(boxes: ArrayLike, scores: ArrayLike, iou_thr: float,
                        labels: Optional[ArrayLike] = None, max_group: int = 4096) -> np.ndarray:
    """Scene-wide greedy rotated NMS, exact, run per group of connected boxes.

    Boxes whose envelopes do not (transitively) intersect cannot suppress each other, so NMS on each
    connected group (several small groups are batched into one call up to ``max_group`` boxes) gives
    exactly the result of one NMS over all boxes.

    Returns:
        Indices of kept boxes (int64), highest score first.
    """
    b = _np(boxes).astype(np.float64).reshape(-1, 5)
    s = _np(scores).astype(np.float64).reshape(-1)
    lab = None if labels is None else _np(labels).reshape(-1)
    if len(b) == 0:
        return np.zeros(0, np.int64)
    corners = rbox_to_corners(b)
    env = np.concatenate([corners.min(1), corners.max(1)], axis=1)
    comp = _components(env)
    order = np.argsort(comp, kind='stable')
    bounds = np.flatnonzero(np.diff(comp[order])) + 1
    groups = np.split(order, bounds)
    kept, chunk, size = [], [], 0
    for g in groups + [None]:
        if g is None or (size + len(g) > max_group and chunk):
            idx = np.concatenate(chunk)
            k = nms_rotated(b[idx], s[idx], iou_thr, None if lab is None else lab[idx])
            kept.append(idx[k])
            chunk, size = [], 0
        if g is not None:
            chunk.append(g)
            size += len(g)
    keep = np.concatenate(kept)
    return keep[np.argsort(-s[keep], kind='stable')]
