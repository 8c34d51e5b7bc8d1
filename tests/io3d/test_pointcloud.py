"""open3d adapters: points and labelled voxels <-> PLY/PCD, and headless rendering."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip('open3d')

from geoperc.io import pointcloud as pc  # noqa: E402
from geoperc.io.semantic_kitti import VOXEL_ORIGIN, default_label_config  # noqa: E402

PALETTE = default_label_config().palette_rgb()


@pytest.mark.parametrize('ext,ascii_', [('.ply', False), ('.ply', True), ('.pcd', False)])
def test_points_roundtrip(tmp_path, ext, ascii_):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(50, 3))
    cols = rng.integers(0, 256, (50, 3), dtype=np.uint8)
    path = str(tmp_path / f'cloud{ext}')
    assert pc.write_points(path, pts, cols, ascii=ascii_) == path
    back, bcols = pc.read_points(path)
    np.testing.assert_allclose(back, pts, atol=1e-5)
    np.testing.assert_array_equal(bcols, cols)
    assert sorted(os.listdir(tmp_path)) == [f'cloud{ext}']  # atomic: no temporary left behind


def test_points_float_colours_and_errors(tmp_path):
    pts = np.eye(3)
    pc.write_points(str(tmp_path / 'a.ply'), pts, np.array([[1.0, 0, 0], [0, 0.5, 0], [0, 0, 2.0]]))
    _, cols = pc.read_points(str(tmp_path / 'a.ply'))
    np.testing.assert_array_equal(cols, [[255, 0, 0], [0, 128, 0], [0, 0, 255]])
    _, none = pc.read_points(pc.write_points(str(tmp_path / 'b.pcd'), pts))
    assert none is None
    with pytest.raises(ValueError, match='extension'):
        pc.write_points(str(tmp_path / 'a.xyz'), pts)
    with pytest.raises(ValueError, match=r'\(N, 3\)'):
        pc.write_points(str(tmp_path / 'c.ply'), np.zeros((4, 2)))
    with pytest.raises(ValueError, match='colors'):
        pc.write_points(str(tmp_path / 'c.ply'), pts, np.zeros((2, 3)))
    with pytest.raises(FileNotFoundError):
        pc.read_points(str(tmp_path / 'missing.ply'))


def labelled_grid():
    lab = np.zeros((8, 6, 4), np.uint8)
    lab[1, 2, 0] = 1      # car
    lab[7, 5, 3] = 9      # road
    lab[0, 0, 0] = 255    # invalid: not drawn
    lab[3, 3, 3] = 19     # traffic-sign
    return lab


def test_voxel_labels_to_points():
    centers, cols, labels = pc.voxel_labels_to_points(labelled_grid(), PALETTE, 0.2, VOXEL_ORIGIN)
    assert sorted(labels.tolist()) == [1, 9, 19]
    i = labels.tolist().index(1)
    np.testing.assert_allclose(centers[i], [0.3, -25.1, -1.9], atol=1e-9)
    np.testing.assert_array_equal(cols[i], [100, 150, 245])
    with pytest.raises(ValueError, match='palette'):
        pc.voxel_labels_to_points(np.full((2, 2, 2), 40, np.uint8), PALETTE)


def test_voxel_ply_points_and_voxelgrid(tmp_path):
    lab = labelled_grid()
    p1 = pc.write_voxel_labels(str(tmp_path / 'centres.ply'), lab, PALETTE, 0.2, VOXEL_ORIGIN)
    pts, cols = pc.read_points(p1)
    assert len(pts) == 3
    p2 = pc.write_voxel_labels(str(tmp_path / 'grid.ply'), lab, PALETTE, 0.2, VOXEL_ORIGIN, as_voxel_grid=True)
    idx, vcols, size, origin = pc.read_voxel_grid(p2)
    assert size == pytest.approx(0.2)
    np.testing.assert_allclose(origin, VOXEL_ORIGIN, atol=1e-9)
    got = {tuple(i): tuple(c) for i, c in zip(idx.tolist(), vcols.tolist())}
    assert got == {(1, 2, 0): tuple(PALETTE[1]), (7, 5, 3): tuple(PALETTE[9]), (3, 3, 3): tuple(PALETTE[19])}
    with pytest.raises(ValueError, match='extension'):
        pc.write_voxel_labels(str(tmp_path / 'grid.pcd'), lab, PALETTE, as_voxel_grid=True)


RENDER_SCRIPT = textwrap.dedent('''
    import sys
    import numpy as np
    from geoperc.io.pointcloud import RenderError, render_voxel_labels_png
    from geoperc.io.semantic_kitti import default_label_config
    lab = np.zeros((12, 12, 4), np.uint8)
    lab[2:10, 2:10, 0] = 9
    lab[4:6, 4:6, 1:3] = 1
    try:
        render_voxel_labels_png(sys.argv[1], lab, default_label_config().palette_rgb(), width=96, height=64,
                                point_size=6)
    except RenderError as e:
        print('RENDER_ERROR', e)
        sys.exit(3)
''')


def test_headless_render(tmp_path, repo_root):
    out = tmp_path / 'voxels.png'
    env = dict(os.environ, PYTHONPATH=repo_root + os.pathsep + os.environ.get('PYTHONPATH', ''))
    r = subprocess.run([sys.executable, '-c', RENDER_SCRIPT, str(out)], capture_output=True, text=True,
                       timeout=180, env=env)
    if r.returncode == 3:
        pytest.skip('headless rendering unavailable here: ' + r.stdout.strip()[-300:])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    import cv2
    img = cv2.imread(str(out))
    assert img.shape == (64, 96, 3)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 2  # background plus the two classes' colours
