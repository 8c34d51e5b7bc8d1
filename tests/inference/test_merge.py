"""DenseBlender against a whole-raster reference; bounded memory; window weights."""
import math

import numpy as np
import pytest

from geoperc.inference.merge import DenseBlender, blend_weights_1d, scores_to_output, shift_boxes
from geoperc.io.tiling import TileGrid


def _reference(grid, tiles, weights, K):
    """Whole-raster float64 weighted mean (what the streaming blender must equal)."""
    H, W = grid.shape
    acc = np.zeros((K, H, W))
    wsum = np.zeros((H, W))
    th, tw = grid.tile
    for win, p in zip(grid, tiles):
        w2 = weights(win).astype(np.float64)
        r, c = win.row_off, win.col_off
        h, w = min(th, H - r), min(tw, W - c)
        acc[:, r:r + h, c:c + w] += p[:, :h, :w] * w2[:h, :w]
        wsum[r:r + h, c:c + w] += w2[:h, :w]
    return acc / wsum


@pytest.mark.parametrize('blend', ['hann', 'linear', 'none'])
def test_streaming_equals_reference_and_memory_is_bounded(blend):
    grid = TileGrid((1000, 70), 48, 16)     # a tall raster: 31 tile rows
    K, block = 2, 32
    rng = np.random.default_rng(0)
    tiles = [rng.random((K, 48, 48)).astype(np.float32) for _ in range(len(grid))]
    bl = DenseBlender(grid, K, block=block, blend=blend)
    out = np.full((K, 1000, 70), np.nan, np.float32)
    max_alive, order = 0, []
    for win, p in zip(grid, tiles):
        for b, arr in bl.add(win, p.copy()):   # the blender weights its input in place
            order.append(b)
            out[:, b * block:b * block + arr.shape[1]] = arr
        max_alive = max(max_alive, len(bl.acc))
    assert order == list(range(math.ceil(1000 / block)))   # every row once, in order
    assert not bl.acc and not bl.pending_rows
    # memory: never more than the rows one tile row spans (+1 straddling), independent of the height
    assert max_alive <= math.ceil(48 / block) + 2
    np.testing.assert_allclose(out, _reference(grid, tiles, bl.weights, K), rtol=2e-6, atol=1e-7)
    # a pixel covered by one window alone keeps its value bit for bit (weight 1: no taper on borders)
    single = np.zeros((1000, 70), int)
    for win in grid:
        single[win.row_off:win.row_off + 48, win.col_off:win.col_off + 48] += 1
    t0 = tiles[0]
    only = single[:48, :48] == 1
    np.testing.assert_array_equal(out[:, :48, :48][:, only], t0[:, only])


def test_border_weights_are_one_and_interior_tapers():
    grid = TileGrid((200, 200), 64, 16)
    bl = DenseBlender(grid, 1, block=32)
    first, mid, last = grid[0], grid[len(grid.col_offsets) + 1], grid[len(grid) - 1]
    assert bl.weights(first)[0, 0] == 1 and bl.weights(first)[-1, -1] < 1     # border side: 1
    assert bl.weights(mid)[0, 0] < 1 and bl.weights(mid)[32, 32] == 1
    assert bl.weights(last)[-1, -1] == 1 and bl.weights(last)[0, 0] < 1
    one = DenseBlender(TileGrid((50, 50), 64, 16), 1, block=32)              # one window: all 1
    assert (one.weights(one.grid[0]) == 1).all()


def test_rows_subset_and_invalid():
    grid = TileGrid((100, 100), 40, 8)
    bl = DenseBlender(grid, 1, block=16, rows=[3, 4])
    need = bl.tiles_needed()
    rows_of = {t // len(grid.col_offsets) for t in need}
    assert rows_of == set(grid.rows_touching(48, 80))
    got = {}
    for t in range(len(grid)):
        valid = np.ones((40, 40), bool)
        valid[:, :5] = False  # every tile's first 5 columns invalid
        for b, arr in bl.add(grid[t], np.full((1, 40, 40), 0.25, np.float32), valid):
            got[b] = arr
    assert sorted(got) == [3, 4]
    invalid_cols = set()
    for c in grid.col_offsets:
        invalid_cols |= set(range(c, min(c + 5, 100)))
    for arr in got.values():
        nan_cols = set(np.flatnonzero(np.isnan(arr[0]).any(0)))
        assert nan_cols == invalid_cols
        assert (arr[0][:, ~np.isnan(arr[0]).any(0)] == 0.25).all()   # agreeing tiles: exact value


def test_weights():
    for mode in ('hann', 'linear'):
        w = blend_weights_1d(128, 32, mode)
        assert w.min() > 0 and w.max() == 1 and (w[32:96] == 1).all()
        assert np.all(w * 64 == np.round(w * 64))                  # dyadic
        # the two tapers over an overlap of 32 sum to ~1 (partition of unity up to quantisation)
        np.testing.assert_allclose(w[-32:] + w[:32], 1, atol=2 / 64)
        assert np.all(np.diff(w[:32]) >= 0)                        # monotone taper
    assert (blend_weights_1d(64, 16, 'none') == 1).all()
    with pytest.raises(ValueError):
        blend_weights_1d(8, 2, 'gauss')


def test_scores_to_output():
    s = np.array([[[0.2, np.nan]], [[0.8, np.nan]]], np.float32)
    lab = scores_to_output(s, 'labels')
    assert lab.dtype == np.uint8 and lab.tolist() == [[[1, 255]]]
    assert scores_to_output(s, 'probs') is s
    rng = np.random.default_rng(0)
    s = rng.integers(0, 4, (5, 30, 40)).astype(np.float32)   # many ties
    s[:, 3:6, 7:9] = np.nan
    s[2, 10, 10] = np.nan                                     # NaN in one channel only: invalid too
    ref = np.argmax(np.where(np.isnan(s), -np.inf, s), axis=0).astype(np.uint8)
    ref[np.isnan(s).any(0)] = 255
    np.testing.assert_array_equal(scores_to_output(s, 'labels')[0], ref)


def test_shift_boxes_drops_outside_and_invalid():
    from rasterio.windows import Window
    boxes = np.array([[10, 10, 4, 2, 0], [30, 5, 4, 2, 0], [5, 25, 4, 2, 0], [2, 2, 4, 2, 0]], float)
    valid = np.ones((40, 40), bool)
    valid[0:4, 0:4] = False
    b, s, lab = shift_boxes(Window(60, 70, 40, 40), (100, 85), boxes, np.arange(4.), np.arange(4), valid)
    # box 1 centre col 60+30=90 >= W=85 -> dropped; box 3 on invalid pixels -> dropped
    assert lab.tolist() == [0, 2]
    np.testing.assert_array_equal(b[:, :2], [[70, 80], [65, 95]])
