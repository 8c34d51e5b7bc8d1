import numpy as np
import pytest

from geoperc.io.tiling import TileGrid


@pytest.mark.parametrize('shape,tile,overlap', [((300, 437), 128, 32), ((100, 100), 128, 16),
                                                ((257, 513), (64, 96), (8, 0)), ((1, 1), 4, 1)])
def test_grid_covers_full_extent(shape, tile, overlap):
    g = TileGrid(shape, tile, overlap)
    cover = np.zeros(shape, int)
    th, tw = g.tile
    for w in g:
        assert (w.width, w.height) == (tw, th)          # every window the same size (batchable)
        assert w.col_off >= 0 and w.row_off >= 0        # never starts outside the raster
        cover[w.row_off:w.row_off + th, w.col_off:w.col_off + tw] += 1
    assert cover.min() >= 1                              # no dropped edge
    assert len(g) == g.grid_shape[0] * g.grid_shape[1]
    # the last window of each axis reaches the edge, the one before does not
    assert g.row_offsets[-1] + th >= shape[0] and (len(g.row_offsets) == 1 or g.row_offsets[-2] + th < shape[0])
    assert g.col_offsets[-1] + tw >= shape[1]


def test_padding_and_overlap():
    g = TileGrid((300, 437), 128, 32)
    assert g.stride == (96, 96) and g.overlap == (32, 32)
    last = len(g) - 1
    w = g[last]
    assert g.padding(last) == (w.row_off + 128 - 300, w.col_off + 128 - 437)
    assert g.padding(0) == (0, 0)


def test_block_alignment():
    # stride already a multiple of the block: aligned as asked
    g = TileGrid((1000, 1000), 256, 128, block=128)
    assert g.aligned == (True, True) and g.stride == (128, 128)
    assert all(o % 128 == 0 for o in g.row_offsets + g.col_offsets)
    # stride 448 vs block 256: aligning would need 256 (4x the windows) -> kept unaligned
    g = TileGrid((4096, 4096), 512, 64, block=256)
    assert g.aligned == (False, False) and g.stride == (448, 448)
    # stride 480 vs block 64: snapping to 448 costs < 25% more windows -> aligned, overlap grows
    g = TileGrid((4096, 4096), 512, 32, block=64)
    assert g.aligned == (True, True) and g.stride == (448, 448) and g.overlap == (64, 64)


@pytest.mark.parametrize('kw', [dict(tile=0, overlap=0), dict(tile=64, overlap=64), dict(tile=64, overlap=-1)])
def test_bad_settings(kw):
    with pytest.raises(ValueError):
        TileGrid((100, 100), **kw)
