"""Stitching tile predictions: blended dense scores, and shifted + NMS-merged rotated boxes.

Dense outputs (:class:`DenseBlender`)
    Every tile's ``(K, th, tw)`` scores are multiplied by a separable window weight ``wy(y) * wx(x)`` and
    added into accumulators of full-width *block rows* (``block`` raster rows each, the output file's
    block height). A block row is final once every tile touching it has been added; it is then divided by
    the weight sum and handed on, and its memory released. Memory is therefore bounded by
    ``(tile + 2 * block) * width * K * 4`` bytes, whatever the raster height.

    Because the tile grid is a cartesian product and the weight is separable, the weight sum is
    separable too: ``WY(y) * WX(x)``, two 1-D arrays -- no per-pixel weight buffer. Invalid pixels
    (nodata, outside the raster) contribute NaN, so any pixel a tile marks invalid ends as nodata.

    Weights are *dyadic*: each 1-D weight is a multiple of ``1 / 2**bits`` (6 bits), so products, sums
    and the final division are exact in float32 for values with few significant bits: where overlapping
    tiles agree on a value such as a probability of 0 or 1, a class score or an 8-bit pixel, the blend
    returns exactly that value (the identity round-trip test relies on it), and the result does not
    depend on the order of the tiles.

    Windows (1-D, ``d`` = distance in pixels from the tile edge, ``o`` = overlap):

    * ``'hann'``: cosine taper ``sin^2(pi/2 * (d + 0.5) / o)`` over the overlap, 1 inside. Over an
      overlap of exactly ``o`` the two tapers sum to 1 (a partition of unity); with ``o = tile / 2`` it
      is the full Hann window.
    * ``'linear'``: ramp ``(d + 0.5) / o`` over the overlap, 1 inside.
    * ``'none'``: 1 everywhere, i.e. the plain mean of the overlapping tiles.

Object outputs (:func:`shift_boxes`, :func:`merge_boxes`)
    Boxes are translated from tile to raster pixels by the window offset, boxes whose centre lies outside
    the raster or on an invalid pixel are dropped, and the scene's boxes are merged across seams with
    exact greedy rotated NMS (:func:`geoperc.ops.rotated.grouped_nms_rotated`).
"""
import math
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np

from geoperc.io.tiling import TileGrid

__all__ = ['blend_weights_1d', 'DenseBlender', 'scores_to_output', 'shift_boxes', 'merge_boxes',
           'BLEND_MODES']

BLEND_MODES = ('hann', 'linear', 'none')


def blend_weights_1d(n: int, overlap: int, mode: str = 'hann', bits: int = 6) -> np.ndarray:
    """1-D window weights of length ``n`` (float32, multiples of ``2**-bits``, all > 0)."""
    if mode not in BLEND_MODES:
        raise ValueError(f'blend must be one of {BLEND_MODES}, got {mode!r}')
    d = np.minimum(np.arange(n), np.arange(n)[::-1]).astype(np.float64) + 0.5  # distance to the edge
    o = max(int(overlap), 1)
    if mode == 'hann':
        w = np.where(d < o, np.sin(np.pi / 2 * np.minimum(d / o, 1.0)) ** 2, 1.0)
    elif mode == 'linear':
        w = np.minimum(d / o, 1.0)
    else:
        w = np.ones(n)
    q = float(2 ** bits)
    return (np.maximum(np.round(w * q), 1.0) / q).astype(np.float32)


def _weight_sum_1d(length: int, offsets: Iterable[int], w: np.ndarray) -> np.ndarray:
    total = np.zeros(length, np.float32)
    n = len(w)
    for o in offsets:
        e = min(o + n, length)
        total[o:e] += w[:e - o]
    return total


def scores_to_output(scores: np.ndarray, output: str) -> np.ndarray:
    """Blended ``(K, h, w)`` scores (NaN = nodata) -> the output array.

    ``'labels'``: ``(1, h, w)`` uint8 argmax, 255 where invalid. ``'probs'``: ``(K, h, w)`` float32,
    NaN where invalid.
    """
    if output == 'probs':
        return scores.astype(np.float32, copy=False)
    if output == 'labels':
        # channel-by-channel running maximum: contiguous passes, much faster than argmax over axis 0;
        # ties go to the lower class, as with argmax
        best = scores[0].copy()
        lab = np.zeros(best.shape, np.uint8)
        for k in range(1, scores.shape[0]):
            better = scores[k] > best
            lab[better] = k
            np.maximum(best, scores[k], out=best)
        invalid = np.isnan(scores.sum(axis=0)) if scores.shape[0] > 1 else np.isnan(best)
        lab[invalid] = 255
        return lab[None]
    raise ValueError(f"output must be 'labels' or 'probs', got {output!r}")


class DenseBlender:
    """Streaming weighted blending of dense tile predictions into finished block rows.

    Args:
        grid: the tile grid the tiles come from.
        channels: K, channels of every tile prediction.
        block: height of a block row (the output file's block height).
        blend: window, one of :data:`BLEND_MODES`.
        rows: block-row indices to produce (default all); tiles' contributions to other rows are ignored
            (rows finished before a resume, or produced by another rank).
    """

    def __init__(self, grid: TileGrid, channels: int, block: int = 256, blend: str = 'hann',
                 rows: Optional[Iterable[int]] = None):
        self.grid = grid
        self.H, self.W = grid.shape
        self.K = int(channels)
        self.block = int(block)
        self.num_rows = math.ceil(self.H / self.block)
        wy = blend_weights_1d(grid.tile[0], grid.overlap[0], blend)
        wx = blend_weights_1d(grid.tile[1], grid.overlap[1], blend)
        self.w2 = wy[:, None] * wx[None, :]  # (th, tw), exact in float32 (12 significant bits)
        self.WY = _weight_sum_1d(self.H, grid.row_offsets, wy)
        self.WX = _weight_sum_1d(self.W, grid.col_offsets, wx)
        self.rows = sorted(set(range(self.num_rows) if rows is None else rows))
        n_cols = len(grid.col_offsets)
        self.remaining: Dict[int, int] = {
            b: len(grid.rows_touching(*self.row_span(b))) * n_cols for b in self.rows}
        self.acc: Dict[int, np.ndarray] = {}

    def row_span(self, b: int) -> Tuple[int, int]:
        """Raster rows ``[r0, r1)`` of block row ``b``."""
        return b * self.block, min((b + 1) * self.block, self.H)

    def tiles_needed(self) -> List[int]:
        """Row-major indices of the tiles that touch a row this blender produces."""
        n_cols = len(self.grid.col_offsets)
        need = set()
        for b in self.rows:
            for i in self.grid.rows_touching(*self.row_span(b)):
                need.add(i)
        return [i * n_cols + j for i in sorted(need) for j in range(n_cols)]

    def add(self, window, scores: np.ndarray, valid: Optional[np.ndarray] = None) -> List[Tuple[int, np.ndarray]]:
        """Add one tile; return the block rows it finished as ``[(b, scores (K, rows, W)), ...]``.

        Args:
            window: the tile's window in the raster grid.
            scores: ``(K, th, tw)`` float predictions for the whole window.
            valid: ``(th, tw)`` bool, False where the prediction must not count (-> nodata).
        """
        r0, c0 = int(window.row_off), int(window.col_off)
        th, tw = self.grid.tile
        if scores.shape != (self.K, th, tw):
            raise ValueError(f'tile prediction has shape {tuple(scores.shape)}, expected {(self.K, th, tw)}')
        h, w = min(th, self.H - r0), min(tw, self.W - c0)
        touched = [b for b in range(r0 // self.block, (r0 + h - 1) // self.block + 1) if b in self.remaining]
        if not touched:
            return []
        contrib = scores[:, :h, :w].astype(np.float32, copy=False) * self.w2[:h, :w]  # (K, h, w)
        if valid is not None and not valid[:h, :w].all():
            contrib[:, ~valid[:h, :w]] = np.nan
        done = []
        for b in touched:
            b0, b1 = self.row_span(b)
            acc = self.acc.get(b)
            if acc is None:
                acc = self.acc[b] = np.zeros((self.K, b1 - b0, self.W), np.float32)
            y0, y1 = max(r0, b0), min(r0 + h, b1)
            acc[:, y0 - b0:y1 - b0, c0:c0 + w] += contrib[:, y0 - r0:y1 - r0]
            self.remaining[b] -= 1
            if self.remaining[b] == 0:
                done.append((b, self._finish(b)))
        return done

    def _finish(self, b: int) -> np.ndarray:
        b0, b1 = self.row_span(b)
        acc = self.acc.pop(b)
        del self.remaining[b]
        acc /= self.WY[b0:b1, None] * self.WX[None, :]  # exact products of dyadic sums
        return acc

    @property
    def pending_rows(self) -> List[int]:
        return sorted(self.remaining)


def shift_boxes(window, shape: Tuple[int, int], boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                valid: Optional[np.ndarray] = None):
    """Tile-pixel boxes -> raster-pixel boxes; drop boxes centred outside the raster or on invalid pixels.

    Args:
        window: the tile's window (its offset is added to the centres).
        shape: ``(H, W)`` of the raster.
        boxes: ``(N, 5)`` le90 boxes in tile pixels; scores ``(N,)``; labels ``(N,)``.
        valid: ``(th, tw)`` valid mask of the tile.

    Returns:
        ``(boxes, scores, labels)`` filtered, boxes in raster pixels (float64).
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 5).copy()
    s = np.asarray(scores, np.float64).reshape(-1)
    lab = np.asarray(labels, np.int64).reshape(-1)
    H, W = shape
    cx, cy = b[:, 0], b[:, 1]
    col, row = np.floor(cx).astype(np.int64), np.floor(cy).astype(np.int64)
    keep = np.isfinite(b).all(1) & (col >= 0) & (row >= 0)
    keep &= (col + int(window.col_off) < W) & (row + int(window.row_off) < H)
    if valid is not None:
        vh, vw = valid.shape
        inside = keep & (col < vw) & (row < vh)
        keep = inside.copy()
        keep[inside] = valid[row[inside], col[inside]]
    b, s, lab = b[keep], s[keep], lab[keep]
    b[:, 0] += int(window.col_off)
    b[:, 1] += int(window.row_off)
    return b, s, lab


def merge_boxes(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou_thr: float = 0.1,
                class_agnostic: bool = False):
    """Merge a scene's boxes across seams with exact greedy rotated NMS; returns kept arrays."""
    from geoperc.ops.rotated import grouped_nms_rotated
    if len(boxes) == 0:
        return boxes.reshape(0, 5), scores.reshape(0), labels.reshape(0)
    keep = grouped_nms_rotated(boxes, scores, iou_thr, None if class_agnostic else labels)
    return boxes[keep], scores[keep], labels[keep]
