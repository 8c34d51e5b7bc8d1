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

    Tapers only where a window meets a neighbour: a window's side on the raster border keeps weight 1,
    so a pixel covered by one window alone (everything outside the overlap strips) has weight 1 and
    its blended value is its prediction, bit for bit, whatever the value (float32, uint16, ...).

    Weights are *dyadic*: each 1-D weight is a multiple of ``1 / 2**bits`` (6 bits), so products, sums
    and the final division are exact in float32 for values with up to 10 significant bits: in the
    overlap strips, where overlapping tiles agree on a value such as a probability of 0 or 1, a class
    score or an 8-bit pixel, the blend returns exactly that value (the identity round-trip tests rely
    on it), and the result does not depend on the order of the tiles. Wider values (uint16, arbitrary
    float32) that agree are returned to within float32 rounding of a weighted mean there.

    Windows (1-D, ``d`` = distance in pixels from the tile edge, ``o`` = overlap):

    * ``'hann'``: cosine taper ``sin^2(pi/2 * (d + 0.5) / o)`` over the overlap, 1 inside. Over an
      overlap of exactly ``o`` the two tapers sum to 1 (a partition of unity); with ``o = tile / 2`` it
      is the full Hann window.
    * ``'linear'``: ramp ``(d + 0.5) / o`` over the overlap, 1 inside.
    * ``'none'``: 1 everywhere, i.e. the plain mean of the overlapping tiles.

    Accumulation is in place: a tile's scores are multiplied by its weight in their own buffer (the
    model's output, owned by the merger) and added into the block-row accumulator.

Mergers (:class:`Merger`, one per output kind, registered in :data:`MERGERS`)
    Tiled inference keys off ``model.output_kind``: ``dense_probs`` -> :class:`DenseProbsMerger`,
    ``dense_regression`` -> :class:`DenseRegressionMerger`, ``rotated_boxes`` ->
    :class:`RotatedBoxesMerger`. ``voxel_labels`` is not a raster output and is refused.

Object outputs (:func:`shift_boxes`, :func:`merge_boxes`)
    Boxes are translated from tile to raster pixels by the window offset, boxes whose centre lies outside
    the raster or on an invalid pixel are dropped, and the scene's boxes are merged across seams with
    exact greedy rotated NMS (:func:`geoperc.ops.rotated.grouped_nms_rotated`).
"""
import math
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from geoperc.errors import InferenceError
from geoperc.io.atomic import atomic_path
from geoperc.io.tiling import TileGrid

__all__ = ['blend_weights_1d', 'axis_weights', 'DenseBlender', 'scores_to_output', 'shift_boxes', 'merge_boxes',
           'BLEND_MODES', 'MergeSettings', 'TileBatch', 'Merger', 'DenseMerger', 'DenseProbsMerger',
           'DenseRegressionMerger', 'RotatedBoxesMerger', 'MERGERS', 'register_merger', 'merger_class',
           'atomic_save']

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


def axis_weights(offsets: Sequence[int], tile: int, overlap: int, mode: str = 'hann') -> List[np.ndarray]:
    """1-D weights of every window along one axis: tapered only on sides that meet a neighbour.

    The first window keeps weight 1 on its leading side, the last on its trailing side (the raster
    border: nothing to blend with), so pixels covered by one window alone have weight exactly 1.
    """
    full = blend_weights_1d(tile, overlap, mode)
    n, half = len(offsets), tile // 2
    out = []
    for i in range(n):
        w = full.copy()
        if i == 0:
            w[:half] = 1.0
        if i == n - 1:
            w[half:] = 1.0
        out.append(w)
    return out


def _weight_sum_1d(length: int, offsets: Iterable[int], weights: Sequence[np.ndarray]) -> np.ndarray:
    total = np.zeros(length, np.float32)
    for o, w in zip(offsets, weights):
        e = min(o + len(w), length)
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
        channels: K, channels of every tile prediction (None: taken from the first tile).
        block: height of a block row (the output file's block height).
        blend: window, one of :data:`BLEND_MODES`.
        rows: block-row indices to produce (default all); tiles' contributions to other rows are ignored
            (rows finished before a resume, or produced by another rank).
    """

    def __init__(self, grid: TileGrid, channels: Optional[int] = None, block: int = 256, blend: str = 'hann',
                 rows: Optional[Iterable[int]] = None):
        self.grid = grid
        self.H, self.W = grid.shape
        self.K = None if channels is None else int(channels)
        self.block = int(block)
        self.num_rows = math.ceil(self.H / self.block)
        self.wy = axis_weights(grid.row_offsets, grid.tile[0], grid.overlap[0], blend)
        self.wx = axis_weights(grid.col_offsets, grid.tile[1], grid.overlap[1], blend)
        self._row_of = {o: i for i, o in enumerate(grid.row_offsets)}
        self._col_of = {o: j for j, o in enumerate(grid.col_offsets)}
        self._w2: Dict[tuple, np.ndarray] = {}  # (th, tw) per first/last-row/col kind
        self.WY = _weight_sum_1d(self.H, grid.row_offsets, self.wy)
        self.WX = _weight_sum_1d(self.W, grid.col_offsets, self.wx)
        self.rows = sorted(set(range(self.num_rows) if rows is None else rows))
        n_cols = len(grid.col_offsets)
        self.remaining: Dict[int, int] = {
            b: len(grid.rows_touching(*self.row_span(b))) * n_cols for b in self.rows}
        self.acc: Dict[int, np.ndarray] = {}

    def weights(self, window) -> np.ndarray:
        """``(th, tw)`` weight of the window at ``window`` (exact in float32: 12 significant bits)."""
        i, j = self._row_of[int(window.row_off)], self._col_of[int(window.col_off)]
        ni, nj = len(self.wy) - 1, len(self.wx) - 1
        key = (i == 0, i == ni, j == 0, j == nj)  # every middle window has the same weights
        w2 = self._w2.get(key)
        if w2 is None:
            w2 = self._w2[key] = self.wy[i][:, None] * self.wx[j][None, :]
        return w2

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
            scores: ``(K, th, tw)`` float predictions for the whole window; a float32 array is
                weighted in place (the blender owns it).
            valid: ``(th, tw)`` bool, False where the prediction must not count (-> nodata).
        """
        r0, c0 = int(window.row_off), int(window.col_off)
        th, tw = self.grid.tile
        if self.K is None:
            self.K = int(scores.shape[0])
        if scores.shape != (self.K, th, tw):
            raise ValueError(f'tile prediction has shape {tuple(scores.shape)}, expected {(self.K, th, tw)}')
        h, w = min(th, self.H - r0), min(tw, self.W - c0)
        touched = [b for b in range(r0 // self.block, (r0 + h - 1) // self.block + 1) if b in self.remaining]
        if not touched:
            return []
        contrib = scores[:, :h, :w]
        if contrib.dtype != np.float32 or not contrib.flags.writeable:
            contrib = contrib.astype(np.float32)
        contrib *= self.weights(window)[:h, :w]  # (K, h, w), in place
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


# -- one merger per output kind -------------------------------------------------------------------
# Tiled inference (geoperc/inference/tiled.py) drives a merger through five calls, each on its own
# thread: ``start`` (plan: units -> tiles), ``model_input`` (reader thread), ``predict`` (main thread:
# the model), ``add`` (merge thread: tiles -> finished units), ``save`` (write thread: a finished unit to
# the partial folder and, on rank 0, into the output) and ``finish`` (rank 0, once every rank is done).
# A *unit* is what resume and sharding count: a block row of the output raster (dense kinds) or a
# window row (boxes). A new output kind is one subclass registered with :func:`register_merger`.

@dataclass
class MergeSettings:
    """What a merger needs to know about the run.

    Attributes:
        grid: the tile grid. info: the reference grid (first date) of the scene.
        out: the output path (GeoTIFF for dense kinds, GeoPackage for boxes).
        partial: the partial-results folder (``<out>.partial``).
        output: ``'labels'`` or ``'probs'`` (``dense_probs``). blend: window weight. block: block-row height.
        compress, cog: GeoTIFF settings (validated before any work). nms_iou: seam NMS of boxes.
        class_names: class names for the GeoPackage ``class`` field. writes: this process writes the
            output (rank 0).
    """
    grid: TileGrid
    info: object
    out: str
    partial: str
    output: str = 'labels'
    blend: str = 'hann'
    block: int = 256
    compress: str = 'deflate'
    cog: bool = False
    nms_iou: float = 0.1
    class_names: Optional[Sequence[str]] = None
    writes: bool = True


@dataclass
class TileBatch:
    """A batch of windows as read: ``pixels`` ``(B, T, C, h, w)`` (torch-safe dtype), ``valid``
    ``(B, h, w)`` bool, with the tile indices and windows, plus the scene metainfo."""
    tiles: List[int]
    windows: list
    pixels: np.ndarray
    valid: np.ndarray
    meta: dict = field(default_factory=dict)


def atomic_save(path: str, save_fn):
    """Write ``path`` through ``save_fn(file)`` into ``path.tmp``, fsync, rename (never half a file)."""
    with atomic_path(path, fsync=True) as tmp, open(tmp, 'wb') as f:
        save_fn(f)


MERGERS: Dict[str, type] = {}


def register_merger(cls):
    """Class decorator: ``cls`` merges outputs of kind ``cls.kind``."""
    MERGERS[cls.kind] = cls
    return cls


def merger_class(model) -> type:
    """The merger of ``model.output_kind``; :class:`InferenceError` for models that cannot be tiled."""
    from geoperc.models.base import OUTPUT_KINDS
    kind = getattr(model, 'output_kind', None)
    if kind not in OUTPUT_KINDS:
        raise InferenceError(f'{type(model).__name__} declares no output_kind (one of {sorted(OUTPUT_KINDS)}); '
                             'tiled inference runs models on the contract of geoperc/models/base.py')
    if kind not in MERGERS:
        raise InferenceError(f'{type(model).__name__} predicts {kind} ({OUTPUT_KINDS[kind].doc}), which is not '
                             f'a raster output: tiled GeoTIFF inference supports {sorted(MERGERS)}; '
                             'evaluate it with tools/test.py')
    return MERGERS[kind]


class Merger(ABC):
    """Tiles of one output kind -> finished units -> output files; see the comment above."""

    kind: str = ''
    unit_name: str = 'row'
    unit_prefix: str = 'u'
    unit_suffix: str = '.npy'

    def __init__(self, settings: MergeSettings):
        self.s = settings
        self.grid = settings.grid
        self.needed: set = set()

    # -- planning ---------------------------------------------------------------------------------
    @abstractmethod
    def num_units(self) -> int:
        """Units of the whole scene (block rows or window rows)."""

    def unit_file(self, u: int) -> str:
        return os.path.join(self.s.partial, 'rows', f'{self.unit_prefix}{u:06d}{self.unit_suffix}')

    @abstractmethod
    def start(self, units: Sequence[int]) -> List[int]:
        """This process makes ``units``; returns the row-major indices of the tiles they need."""

    def manifest(self) -> dict:
        """Kind-specific settings that make partial results incompatible when they change."""
        return dict(kind=self.kind)

    # -- reader thread ----------------------------------------------------------------------------
    @abstractmethod
    def model_input(self, batch: TileBatch) -> dict:
        """What the model is called with for ``batch``."""

    # -- main thread ------------------------------------------------------------------------------
    @abstractmethod
    def predict(self, model, data: dict) -> list:
        """Run the model; one result per tile of the batch (CPU, numpy)."""

    # -- merge thread -----------------------------------------------------------------------------
    @abstractmethod
    def add(self, tile: int, window, result, valid: np.ndarray) -> List[Tuple[int, object]]:
        """Add one tile's result; returns the units it finished as ``[(unit, payload), ...]``."""

    # -- write thread -----------------------------------------------------------------------------
    @abstractmethod
    def save(self, unit: int, payload):
        """Persist a finished unit in the partial folder (and stream it into the output on rank 0)."""

    # -- rank 0, after every rank -----------------------------------------------------------------
    @abstractmethod
    def finish(self) -> dict:
        """Write the output from the units; returns ``{'raster': path}`` or ``{'vector': path}``."""

    def abort(self):
        """Drop any half-written output (the partial folder stays for resume)."""


class DenseMerger(Merger):
    """Dense kinds: blended tile maps -> block rows of a tiled GeoTIFF (:class:`DenseBlender`).

    The model is called as ``model.predict_dense(model.data_preprocessor(dict(inputs=batch,
    valid_mask=valid))['inputs'])``: one preprocessing and one forward per batch, no data samples, no
    labels; the output ``(B, K, >=th, >=tw)`` is cropped to the tile.
    """

    unit_name = 'block row'
    unit_prefix = 'r'
    unit_suffix = '.npy'
    dtype = 'float32'
    nodata = float('nan')

    def __init__(self, settings: MergeSettings):
        super().__init__(settings)
        if settings.block % 16:
            raise InferenceError(f'block must be a multiple of 16 (GeoTIFF tiles), got {settings.block}')
        from .export import check_compress
        self.compress = check_compress(settings.compress, self.dtype)  # before any work
        self.blender: Optional[DenseBlender] = None
        self.writer = None
        self._next_row = 0

    def num_units(self) -> int:
        return math.ceil(self.grid.shape[0] / self.s.block)

    def start(self, units):
        self.blender = DenseBlender(self.grid, None, self.s.block, self.s.blend, rows=units)
        tiles = self.blender.tiles_needed()
        self.needed = set(tiles)
        return tiles

    def manifest(self):
        return dict(kind=self.kind, output=self.output_name, blend=self.s.blend, block=self.s.block)

    @property
    def output_name(self) -> str:
        return 'values'

    def model_input(self, batch):
        import torch
        px = batch.pixels[:, 0] if batch.pixels.shape[1] == 1 else batch.pixels
        return dict(inputs=torch.from_numpy(px), valid_mask=torch.from_numpy(batch.valid))

    def predict(self, model, data):
        import torch
        B = data['inputs'].shape[0]
        th, tw = self.grid.tile
        with torch.no_grad():
            x = model.data_preprocessor(data, False)['inputs']
            out = model.predict_dense(x)
        if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[0] != B \
                or out.shape[2] < th or out.shape[3] < tw:
            raise InferenceError(f'{type(model).__name__}.predict_dense returned '
                                 f'{tuple(getattr(out, "shape", ()))} for {B} windows of {th}x{tw}; expected '
                                 f'({B}, K, {th}, {tw}) or larger (padding)')
        self.check_channels(model, int(out.shape[1]))
        return out[:, :, :th, :tw].detach().float().cpu().numpy()

    def check_channels(self, model, K: int):
        pass

    def add(self, tile, window, result, valid):
        return [(b, self.to_output(arr)) for b, arr in self.blender.add(window, result, valid)]

    def to_output(self, scores: np.ndarray) -> np.ndarray:
        return scores

    def save(self, unit, payload):
        atomic_save(self.unit_file(unit), lambda f: np.save(f, payload))
        if self.s.writes:
            self._flush_files(unit)
            self._write(payload, unit)

    def _write(self, arr: np.ndarray, b: int):
        if self.writer is None:
            from .export import GeoTiffWriter
            self.writer = GeoTiffWriter(self.s.out, self.s.info, arr.shape[0], self.dtype, self.nodata,
                                        block=self.s.block, compress=self.compress, cog=self.s.cog)
        self.writer.write(arr, row_off=b * self.s.block)
        self._next_row = b + 1

    def _flush_files(self, upto: int):
        """Write rows ``[next, upto)`` from the partial folder (rows resumed or made by other ranks)."""
        while self._next_row < upto:
            path = self.unit_file(self._next_row)
            if not os.path.isfile(path):
                raise RuntimeError(f'{path}: block row {self._next_row} is missing from the partial results')
            self._write(np.load(path), self._next_row)

    def finish(self):
        self._flush_files(self.num_units())
        return dict(raster=self.writer.commit())

    def abort(self):
        if self.writer is not None:
            self.writer.abort()


@register_merger
class DenseProbsMerger(DenseMerger):
    """``dense_probs``: blended class probabilities -> uint8 labels (nodata 255) or float32 probs (NaN)."""

    kind = 'dense_probs'

    def __init__(self, settings):
        if settings.output not in ('labels', 'probs'):
            raise InferenceError(f"output must be 'labels' or 'probs', got {settings.output!r}")
        self.dtype, self.nodata = ('uint8', 255) if settings.output == 'labels' else ('float32', float('nan'))
        super().__init__(settings)

    @property
    def output_name(self):
        return self.s.output

    def check_channels(self, model, K):
        if K < 2:
            raise InferenceError(f'{type(model).__name__}.predict_dense returned {K} channel(s); dense_probs '
                                 'models return K >= 2 class probabilities')
        if self.s.output == 'labels' and K > 255:
            raise InferenceError(f'{K} classes do not fit uint8 labels; use output=probs')

    def to_output(self, scores):
        return scores_to_output(scores, self.s.output)


@register_merger
class DenseRegressionMerger(DenseMerger):
    """``dense_regression``: blended values -> a float32 GeoTIFF (nodata NaN), one band per channel.

    Values are computed in float32 (the preprocessor's and the model's precision): a float64 input is
    reduced to float32, and said so in the log.
    """

    kind = 'dense_regression'


@register_merger
class RotatedBoxesMerger(Merger):
    """``rotated_boxes``: boxes shifted to raster pixels, per window row; seams merged by rotated NMS.

    The model is called through ``model.test_step`` with one :class:`GeoDataSample` per window
    (metainfo ``crs``, ``transform``, ``window``, ``ori_shape``, ``nodata``, ``img_path``,
    ``band_count``, and ``valid_mask``), as detectors need their metainfo.
    """

    kind = 'rotated_boxes'
    unit_name = 'window row'
    unit_prefix = 't'
    unit_suffix = '.npz'

    def __init__(self, settings):
        super().__init__(settings)
        self.n_cols = len(self.grid.col_offsets)
        self._rows: Dict[int, list] = {}

    def num_units(self):
        return len(self.grid.row_offsets)

    def start(self, units):
        tiles = [i * self.n_cols + j for i in units for j in range(self.n_cols)]
        self.needed = set(tiles)
        return tiles

    def manifest(self):
        return dict(kind=self.kind, nms_iou=self.s.nms_iou)

    def model_input(self, batch):
        import torch
        from mmengine.structures import PixelData

        from geoperc.io.raster import window_bounds_in, window_transform
        from geoperc.structures.geo_data_sample import GeoDataSample
        info, m = self.s.info, batch.meta
        inputs, samples = [], []
        for k, w in enumerate(batch.windows):
            px = batch.pixels[k]
            inputs.append(torch.from_numpy(px[0] if px.shape[0] == 1 else px))
            inner = window_bounds_in(w, info.shape)
            meta = dict(crs=m.get('crs'), transform=tuple(window_transform(info.transform, w))[:6],
                        window=(int(w.col_off), int(w.row_off), int(w.width), int(w.height)),
                        ori_shape=(int(inner.height), int(inner.width)) if inner is not None else (0, 0),
                        nodata=info.nodata, img_path=list(m.get('img_path', [])), band_count=info.count)
            s = GeoDataSample(metainfo=meta)
            s.valid_mask = PixelData(data=torch.from_numpy(batch.valid[k])[None])
            samples.append(s)
        return dict(inputs=inputs, data_samples=samples)

    def predict(self, model, data):
        import torch
        with torch.no_grad():
            out = model.test_step(data)
        res = []
        for s in out:
            inst = s.pred_instances
            res.append((inst.bboxes.detach().float().cpu().numpy().reshape(-1, 5),
                        inst.scores.detach().float().cpu().numpy().reshape(-1),
                        inst.labels.detach().cpu().numpy().reshape(-1)))
        return res

    def add(self, tile, window, result, valid):
        if tile not in self.needed:
            return []
        i = tile // self.n_cols
        bx, sc, lb = result
        self._rows.setdefault(i, []).append(shift_boxes(window, self.grid.shape, bx, sc, lb, valid))
        if len(self._rows[i]) < self.n_cols:
            return []
        parts = self._rows.pop(i)
        return [(i, {k: np.concatenate([p[j] for p in parts]) for j, k in enumerate(('boxes', 'scores', 'labels'))})]

    def save(self, unit, payload):
        atomic_save(self.unit_file(unit), lambda f: np.savez(f, **payload))

    def finish(self):
        from .export import write_boxes_gpkg
        parts = []
        for i in range(self.num_units()):
            path = self.unit_file(i)
            if not os.path.isfile(path):
                raise RuntimeError(f'{path}: window row {i} is missing from the partial results')
            with np.load(path) as z:
                parts.append((z['boxes'], z['scores'], z['labels']))
        boxes = np.concatenate([p[0] for p in parts]).reshape(-1, 5)
        scores = np.concatenate([p[1] for p in parts])
        labels = np.concatenate([p[2] for p in parts]).astype(np.int64)
        boxes, scores, labels = merge_boxes(boxes, scores, labels, self.s.nms_iou)
        return dict(vector=write_boxes_gpkg(self.s.out, boxes, scores, labels, self.s.info,
                                            class_names=self.s.class_names))
