"""A classical vanishing-point estimator for road scenes (no learned weights, no downloads).

VPOcc uses NeurVPS vanishing points extracted offline (released as ``seq_XX.json``). When those files
are not available, this estimator gives the dominant road-direction VP of any camera image:

1. line segments: OpenCV's LSD (``cv2.createLineSegmentDetector``) or, where the build lacks it,
   probabilistic Hough on Canny edges; segments shorter than ``min_length`` pixels and nearly
   horizontal / vertical ones (within ``exclude_deg`` of the axes: horizon lines, poles) are dropped;
2. RANSAC over segment pairs: a candidate is the intersection of two segments' lines; its score is
   the summed length of the segments whose direction points at it within ``angle_thresh_deg``
   (seen from the segment's midpoint); candidates outside an enlarged image box are rejected;
3. refinement: the point minimising the length-weighted squared distance to the inlier lines.

Returns ``(x, y)`` in pixels and a confidence (inlier length / total length). Deterministic for a
fixed ``seed``.
"""
from typing import Optional, Tuple

import numpy as np

__all__ = ['detect_segments', 'estimate_vanishing_point']


def detect_segments(gray: np.ndarray, min_length: float = 15.0) -> np.ndarray:
    """``(N, 4)`` float segments ``x1, y1, x2, y2`` of a uint8 grey image."""
    import cv2
    segs = None
    try:
        lsd = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD)
        segs = lsd.detect(gray)[0]
    except (AttributeError, cv2.error):
        segs = None
    if segs is None or len(segs) == 0:
        edges = cv2.Canny(gray, 50, 150)
        segs = cv2.HoughLinesP(edges, 1, np.pi / 180, threshold=20, minLineLength=int(min_length), maxLineGap=3)
    if segs is None:
        return np.zeros((0, 4), np.float64)
    segs = np.asarray(segs, np.float64).reshape(-1, 4)
    length = np.hypot(segs[:, 2] - segs[:, 0], segs[:, 3] - segs[:, 1])
    return segs[length >= min_length]


def _lines(segs: np.ndarray) -> np.ndarray:
    p1 = np.c_[segs[:, :2], np.ones(len(segs))]
    p2 = np.c_[segs[:, 2:], np.ones(len(segs))]
    ln = np.cross(p1, p2)
    return ln / np.linalg.norm(ln[:, :2], axis=1, keepdims=True)


def _consistent(segs: np.ndarray, pt: np.ndarray, cos_t: float) -> np.ndarray:
    mid = (segs[:, :2] + segs[:, 2:]) / 2
    d = segs[:, 2:] - segs[:, :2]
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    to = pt[None] - mid
    n = np.linalg.norm(to, axis=1)
    cos = np.abs((d * to).sum(1)) / np.maximum(n, 1e-9)
    return cos >= cos_t


def estimate_vanishing_point(image: np.ndarray, min_length: float = 15.0, exclude_deg: float = 8.0,
                             angle_thresh_deg: float = 2.0, iterations: int = 500, seed: int = 0,
                             margin: float = 1.0) -> Tuple[Optional[np.ndarray], float]:
    """Dominant vanishing point of ``image`` (``(H, W)`` or ``(H, W, 3)`` uint8, any channel order).

    Returns ``(vp (2,) float64 or None when fewer than two usable segments, confidence in [0, 1])``.
    ``margin``: candidates may lie up to ``margin`` image sizes outside the image.
    """
    import cv2
    img = np.asarray(image)
    gray = img if img.ndim == 2 else cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2GRAY)
    gray = np.ascontiguousarray(gray.astype(np.uint8))
    H, W = gray.shape
    segs = detect_segments(gray, min_length)
    if len(segs):
        ang = np.degrees(np.arctan2(segs[:, 3] - segs[:, 1], segs[:, 2] - segs[:, 0])) % 180
        off_axis = np.minimum.reduce([ang, np.abs(ang - 90), 180 - ang]) > exclude_deg
        segs = segs[off_axis]
    if len(segs) < 2:
        return None, 0.0
    lines = _lines(segs)
    length = np.hypot(segs[:, 2] - segs[:, 0], segs[:, 3] - segs[:, 1])
    cos_t = np.cos(np.radians(angle_thresh_deg))
    rng = np.random.default_rng(seed)
    prob = length / length.sum()
    best, best_score = None, -1.0
    lo = np.array([-margin * W, -margin * H])
    hi = np.array([(1 + margin) * W, (1 + margin) * H])
    for _ in range(iterations):
        i, j = rng.choice(len(segs), 2, replace=False, p=prob)
        p = np.cross(lines[i], lines[j])
        if abs(p[2]) < 1e-9:
            continue
        pt = p[:2] / p[2]
        if np.any(pt < lo) or np.any(pt > hi):
            continue
        score = length[_consistent(segs, pt, cos_t)].sum()
        if score > best_score:
            best, best_score = pt, score
    if best is None:
        return None, 0.0
    inl = _consistent(segs, best, cos_t)
    if inl.sum() >= 2:  # weighted least squares: min sum w (a x + b y + c)^2
        A = lines[inl, :2] * np.sqrt(length[inl, None])
        b = -lines[inl, 2] * np.sqrt(length[inl])
        sol, *_ = np.linalg.lstsq(A, b, rcond=None)
        if np.all(np.isfinite(sol)):
            best = sol
    return np.asarray(best, np.float64), float(length[inl].sum() / length.sum())
