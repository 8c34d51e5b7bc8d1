"""Tile grids over a raster: fixed-size overlapping windows covering the full extent. Pure, no I/O.

A :class:`TileGrid` is the cartesian product of row offsets and column offsets ``0, s, 2s, ...`` with
stride ``s = tile - overlap``, continued until the last window reaches the raster edge. Windows never
start outside the raster; the last row/column of windows may extend past the bottom/right edge (read
boundless; the part outside is padding that inference removes). Every window has the same size, so
tiles batch without resizing.

Block alignment: when the file is tiled internally (``block``), a stride that is a multiple of the block
size makes every window start on a block boundary, so no block is decoded for more than the windows
that need it. If ``tile - overlap`` is not a multiple of the block, the stride is rounded *down* to
one when that costs at most ``max_align_cost`` more windows (overlap grows accordingly); otherwise the
requested stride is kept and GDAL's block cache absorbs the misalignment (row-major order re-uses the
blocks of the previous window).
"""
import math
from typing import Iterator, List, Optional, Sequence, Tuple, Union

from rasterio.windows import Window

__all__ = ['TileGrid']

IntPair = Union[int, Tuple[int, int]]


def _pair(v: IntPair) -> Tuple[int, int]:
    if isinstance(v, (tuple, list)):
        assert len(v) == 2, f'expected an int or a pair, got {v}'
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _offsets(length: int, tile: int, stride: int) -> List[int]:
    """Start offsets 0, s, 2s, ... until a window reaches ``length``."""
    n = 1 if length <= tile else 1 + math.ceil((length - tile) / stride)
    return [i * stride for i in range(n)]


class TileGrid:
    """Fixed-size overlapping windows covering a raster of ``shape``.

    Args:
        shape: ``(H, W)`` of the raster in pixels.
        tile: window size, an int or ``(th, tw)``.
        overlap: pixels shared by neighbouring windows, an int or ``(oh, ow)``; ``0 <= overlap < tile``.
        block: internal block shape ``(bh, bw)`` of the file (or an int), or None.
        max_align_cost: largest relative increase of the number of windows accepted to align the stride
            to ``block`` (0.25 = 25% more windows).

    Attributes:
        tile, stride, overlap: per axis ``(rows, cols)``; ``overlap`` is the effective one.
        row_offsets, col_offsets: window start offsets.
        aligned: per axis, whether every window starts on a block boundary.
    """

    def __init__(self, shape: Sequence[int], tile: IntPair, overlap: IntPair = 0,
                 block: Optional[IntPair] = None, max_align_cost: float = 0.25):
        H, W = int(shape[0]), int(shape[1])
        if H <= 0 or W <= 0:
            raise ValueError(f'raster shape must be positive, got {(H, W)}')
        self.shape = (H, W)
        self.tile = _pair(tile)
        ov = _pair(overlap)
        for t, o in zip(self.tile, ov):
            if t <= 0:
                raise ValueError(f'tile size must be positive, got {tile}')
            if not 0 <= o < t:
                raise ValueError(f'overlap must be in [0, tile), got overlap={overlap} for tile={tile}')
        strides = [t - o for t, o in zip(self.tile, ov)]
        aligned = [False, False]
        if block is not None:
            blk = _pair(block)
            for ax in range(2):
                b, s = blk[ax], strides[ax]
                if b <= 0:
                    continue
                if s % b == 0:
                    aligned[ax] = True
                elif s > b:
                    snapped = s // b * b
                    n_req = len(_offsets(self.shape[ax], self.tile[ax], s))
                    n_new = len(_offsets(self.shape[ax], self.tile[ax], snapped))
                    if n_new <= n_req * (1 + max_align_cost):
                        strides[ax], aligned[ax] = snapped, True
        self.stride = tuple(strides)
        self.overlap = tuple(t - s for t, s in zip(self.tile, self.stride))
        self.aligned = tuple(aligned)
        self.block = _pair(block) if block is not None else None
        self.row_offsets = _offsets(H, self.tile[0], self.stride[0])
        self.col_offsets = _offsets(W, self.tile[1], self.stride[1])

    # -- geometry -----------------------------------------------------------------------------------
    @property
    def grid_shape(self) -> Tuple[int, int]:
        """(number of window rows, number of window columns)."""
        return len(self.row_offsets), len(self.col_offsets)

    def __len__(self) -> int:
        return len(self.row_offsets) * len(self.col_offsets)

    def window(self, index: int) -> Window:
        """The ``index``-th window in row-major order."""
        i, j = divmod(index, len(self.col_offsets))
        return Window(self.col_offsets[j], self.row_offsets[i], self.tile[1], self.tile[0])

    def __getitem__(self, index: int) -> Window:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self.window(index % len(self))

    def __iter__(self) -> Iterator[Window]:
        for k in range(len(self)):
            yield self.window(k)

    def padding(self, index: int) -> Tuple[int, int]:
        """(bottom, right) pixels of window ``index`` that lie outside the raster."""
        w = self.window(index)
        return (max(0, w.row_off + w.height - self.shape[0]), max(0, w.col_off + w.width - self.shape[1]))

    def rows_touching(self, r0: int, r1: int) -> List[int]:
        """Window-row indices whose rows intersect raster rows ``[r0, r1)``."""
        th = self.tile[0]
        return [i for i, o in enumerate(self.row_offsets) if o < r1 and o + th > r0]

    def __repr__(self) -> str:
        return (f'TileGrid(shape={self.shape}, tile={self.tile}, overlap={self.overlap}, '
                f'stride={self.stride}, grid={self.grid_shape}, block={self.block}, aligned={self.aligned})')
