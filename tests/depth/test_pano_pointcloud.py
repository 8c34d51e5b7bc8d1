"""Back-projection of a generated room's panorama lands on the room's walls; PLY, render and panel."""
import numpy as np
import pytest

from geoperc.io.equirect import write_depth_panel_png
from geoperc.io.pointcloud import (RenderError, pano_depth_to_points, read_points, render_pano_point_cloud_png,
                                   write_pano_point_cloud)
from geoperc.testing.formats3d import render_box_room_pano

ROOM = dict(left=1.5, right=2.5, back=2.0, front=3.0, up=1.0, down=1.5)


def test_room_depth_backprojects_onto_the_box(tmp_path):
    img, depth, room = render_box_room_pano((48, 96), room=ROOM, missing=0.0)
    assert room == ROOM
    # straight ahead (image centre column, equator row) the front wall is 3 m away; straight down 1.5 m
    H, W = depth.shape
    assert depth[(H - 1) // 2: H // 2 + 1, (W - 1) // 2: W // 2 + 1].mean() == pytest.approx(3.0, rel=0.03)
    assert depth[-1].mean() == pytest.approx(1.5, rel=1e-3)  # bottom row = nadir (align_corners grid)
    pts, cols = pano_depth_to_points(depth, img[..., ::-1])
    assert pts.shape == (H * W, 3) and cols.dtype == np.uint8
    lo = np.array([-1.5, -2.0, -1.0])
    hi = np.array([2.5, 3.0, 1.5])
    assert (pts >= lo - 1e-4).all() and (pts <= hi + 1e-4).all()
    gap = np.minimum(np.abs(pts - lo), np.abs(pts - hi)).min(1)  # distance to the nearest face plane
    assert gap.max() < 1e-4
    np.testing.assert_allclose(np.linalg.norm(pts, axis=1), depth.reshape(-1), rtol=1e-5)
    # PLY round trip with colours; missing / invalid / too far pixels are left out
    path = write_pano_point_cloud(str(tmp_path / 'room.ply'), depth, img[..., ::-1], max_depth=3.0)
    p2, c2 = read_points(path)
    keep = depth.reshape(-1) <= 3.0
    assert len(p2) == keep.sum() and c2.shape == (len(p2), 3)
    np.testing.assert_allclose(p2, pts[keep], atol=1e-5)
    np.testing.assert_array_equal(c2, cols[keep])


def test_panel_and_render(tmp_path):
    import cv2
    img, depth, _ = render_box_room_pano((32, 64), seed=3)
    out = write_depth_panel_png(str(tmp_path / 'panel.png'), img[..., ::-1], depth * 1.1, depth)
    panel = cv2.imread(out)
    assert panel.shape[0] == 4 * panel.shape[1] // 2 and panel.shape[1] == 512
    try:
        png = render_pano_point_cloud_png(str(tmp_path / 'room.png'), depth, img[..., ::-1], width=160, height=120)
    except RenderError as e:
        pytest.skip(f'no headless renderer here: {e}')
    r = cv2.imread(png)
    assert r.shape == (120, 160, 3) and r.std() > 5
