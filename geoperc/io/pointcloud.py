"""Point clouds and voxel grids <-> PLY / PCD files, and headless rendering, through open3d.

open3d is imported lazily (only when a function here runs), so the rest of geoperc works without it.
Every writer is atomic: it writes a temporary file with the same extension next to the target (open3d
chooses the format from the extension) and renames it into place, so a reader never sees a half file.

* :func:`write_points` / :func:`read_points`: ``(N, 3)`` points with optional colours (uint8 0..255 or
  float 0..1) and normals, PLY or PCD.
* :func:`voxel_labels_to_points` / :func:`write_voxel_labels`: an ``(X, Y, Z)`` label grid (e.g. an SSC
  target or prediction) with a colour palette -> coloured voxel centres (PLY point cloud), or an open3d
  ``VoxelGrid`` (PLY written by ``open3d.io.write_voxel_grid``) whose voxel indices equal the grid
  indices. :func:`read_voxel_grid` reads such a file back as indices + colours.
* :func:`render_png`: draw points (or labelled voxels) with ``OffscreenRenderer`` to a PNG with no
  display. Needs EGL/Vulkan (Debian: ``libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri mesa-vulkan-drivers
  libvulkan1``); failures raise :class:`RenderError` saying so.
"""
import os
import os.path as osp
from typing import Optional, Sequence, Tuple

import numpy as np

from .atomic import atomic_call

__all__ = ['Open3DMissing', 'RenderError', 'write_points', 'read_points', 'voxel_labels_to_points',
           'write_voxel_labels', 'read_voxel_grid', 'render_png', 'render_voxel_labels_png']

_POINT_EXT = ('.ply', '.pcd')


class Open3DMissing(ImportError):
    """open3d cannot be imported."""


class RenderError(RuntimeError):
    """Headless rendering is not available or failed; the message says what to install."""


RENDER_HINT = ('headless rendering needs EGL/Vulkan: on Debian install libegl1 libgl1 libegl-mesa0 '
               'libgl1-mesa-dri mesa-vulkan-drivers libvulkan1 (tools/install.sh does, as root)')


def _o3d():
    try:
        import open3d as o3d
    except (ImportError, OSError) as e:  # OSError: a missing shared library (e.g. libusb-1.0)
        raise Open3DMissing(f'open3d is needed for point-cloud IO and rendering (pip install open3d; '
                            f'Debian also needs libusb-1.0-0): {e}') from e
    return o3d


def _check_ext(path: str, allowed: Sequence[str]) -> str:
    ext = osp.splitext(path)[1].lower()
    if ext not in allowed:
        raise ValueError(f'{path}: unsupported extension {ext!r}, expected one of {tuple(allowed)}')
    return ext


def _colors01(colors, n: int) -> Optional[np.ndarray]:
    if colors is None:
        return None
    c = np.asarray(colors)
    if c.shape != (n, 3):
        raise ValueError(f'colors must be ({n}, 3), got {c.shape}')
    if np.issubdtype(c.dtype, np.integer):
        return c.astype(np.float64) / 255.0
    return np.clip(c.astype(np.float64), 0.0, 1.0)


def _point_cloud(points, colors=None, normals=None):
    o3d = _o3d()
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f'points must be (N, 3), got {pts.shape}')
    pc = o3d.geometry.PointCloud()
    pc.points = o3d.utility.Vector3dVector(pts)
    c = _colors01(colors, len(pts))
    if c is not None:
        pc.colors = o3d.utility.Vector3dVector(c)
    if normals is not None:
        pc.normals = o3d.utility.Vector3dVector(np.asarray(normals, dtype=np.float64).reshape(-1, 3))
    return pc


def write_points(path: str, points, colors=None, normals=None, ascii: bool = False) -> str:
    """Write ``(N, 3)`` points (+ colours, normals) to ``.ply`` or ``.pcd`` atomically.

    Args:
        colors: ``(N, 3)`` uint8 (0..255) or float (0..1) RGB.
        ascii: text instead of binary encoding.
    """
    _check_ext(path, _POINT_EXT)
    o3d = _o3d()
    pc = _point_cloud(points, colors, normals)
    return atomic_call(path, lambda p: o3d.io.write_point_cloud(p, pc, write_ascii=ascii))


def read_points(path: str) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Read a ``.ply`` / ``.pcd`` point cloud -> ``(points (N, 3) float64, colors (N, 3) uint8 or None)``."""
    _check_ext(path, _POINT_EXT)
    if not osp.isfile(path):
        raise FileNotFoundError(f'point cloud not found: {path}')
    o3d = _o3d()
    pc = o3d.io.read_point_cloud(path)
    pts = np.asarray(pc.points)
    cols = np.round(np.asarray(pc.colors) * 255).astype(np.uint8) if pc.has_colors() else None
    return pts, cols


def voxel_labels_to_points(labels, palette, voxel_size: float = 0.2, origin=(0.0, 0.0, 0.0),
                           ignore: Sequence[int] = (0, 255)) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X, Y, Z)`` labels -> centres ``(M, 3)``, colours ``(M, 3)`` uint8 and labels ``(M,)`` of the voxels
    whose label is not in ``ignore`` (default: empty 0 and invalid 255).

    Args:
        palette: ``(K, 3)`` uint8 RGB per label (e.g. ``LabelConfig.palette_rgb()``).
        origin: world coordinates of the grid's corner (SemanticKITTI: ``(0, -25.6, -2)``).
    """
    lab = np.asarray(labels)
    if lab.ndim != 3:
        raise ValueError(f'labels must be (X, Y, Z), got {lab.shape}')
    pal = np.asarray(palette, dtype=np.uint8)
    keep = ~np.isin(lab, np.asarray(ignore))
    idx = np.argwhere(keep)
    vals = lab[keep].astype(np.int64)
    if vals.size and vals.max() >= len(pal):
        raise ValueError(f'label {vals.max()} has no palette entry (palette has {len(pal)})')
    centers = np.asarray(origin, np.float64) + (idx + 0.5) * voxel_size
    return centers, pal[vals], vals


def write_voxel_labels(path: str, labels, palette, voxel_size: float = 0.2, origin=(0.0, 0.0, 0.0),
                       ignore: Sequence[int] = (0, 255), as_voxel_grid: bool = False) -> str:
    """Write labelled voxels as a coloured PLY: voxel centres as points, or (``as_voxel_grid``) an open3d
    ``VoxelGrid`` of size ``voxel_size`` anchored at ``origin`` (grid index = voxel index)."""
    _check_ext(path, ('.ply',) if as_voxel_grid else _POINT_EXT)
    centers, colors, _ = voxel_labels_to_points(labels, palette, voxel_size, origin, ignore)
    if not as_voxel_grid:
        return write_points(path, centers, colors)
    o3d = _o3d()
    pc = _point_cloud(centers, colors)
    lo = np.asarray(origin, np.float64)
    hi = lo + np.asarray(np.shape(labels), np.float64) * voxel_size
    vg = o3d.geometry.VoxelGrid.create_from_point_cloud_within_bounds(pc, voxel_size, lo, hi)
    return atomic_call(path, lambda p: o3d.io.write_voxel_grid(p, vg))


def read_voxel_grid(path: str) -> Tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Read a ``VoxelGrid`` PLY -> ``(indices (M, 3) int, colors (M, 3) uint8, voxel_size, origin)``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'voxel grid not found: {path}')
    o3d = _o3d()
    vg = o3d.io.read_voxel_grid(path)
    vox = vg.get_voxels()
    idx = np.array([v.grid_index for v in vox], dtype=np.int64).reshape(-1, 3)
    col = np.round(np.array([v.color for v in vox], dtype=np.float64).reshape(-1, 3) * 255).astype(np.uint8)
    return idx, col, float(vg.voxel_size), np.asarray(vg.origin)


def render_png(path: str, points, colors=None, width: int = 640, height: int = 480,
               eye: Optional[Sequence[float]] = None, center: Optional[Sequence[float]] = None,
               up: Sequence[float] = (0.0, 0.0, 1.0), fov_deg: float = 60.0, point_size: float = 3.0,
               background=(1.0, 1.0, 1.0, 1.0)) -> str:
    """Render points headlessly (``open3d.visualization.rendering.OffscreenRenderer``) to a PNG.

    Args:
        eye / center: camera position and look-at point; default: look at the cloud's centre from
            above-behind at twice its extent.
        up: camera up vector (SemanticKITTI LiDAR frame: +z).

    Raises:
        RenderError: no EGL/Vulkan or the renderer failed (the message names the packages).
    """
    _check_ext(path, ('.png',))
    o3d = _o3d()
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(pts) == 0:
        raise ValueError('nothing to render: no points')
    try:
        from open3d.visualization import rendering
        renderer = rendering.OffscreenRenderer(int(width), int(height))
    except Exception as e:  # noqa: BLE001 - open3d raises plain RuntimeError / crashes softly
        raise RenderError(f'{RENDER_HINT}; OffscreenRenderer failed: {e}') from e
    try:
        mat = rendering.MaterialRecord()
        mat.shader = 'defaultUnlit'
        mat.point_size = float(point_size)
        renderer.scene.set_background(np.asarray(background, np.float32))
        renderer.scene.add_geometry('points', _point_cloud(pts, colors), mat)
        lo, hi = pts.min(0), pts.max(0)
        ctr = np.asarray(center, np.float64) if center is not None else (lo + hi) / 2
        ext = float(np.linalg.norm(hi - lo)) or 1.0
        cam = np.asarray(eye, np.float64) if eye is not None else ctr + np.array([-1.0, -1.0, 1.0]) * ext
        renderer.setup_camera(float(fov_deg), ctr.astype(np.float32), cam.astype(np.float32),
                              np.asarray(up, np.float32))
        img = renderer.render_to_image()
        if np.asarray(img).size == 0:
            raise RenderError(f'{RENDER_HINT}; the renderer returned an empty image')
        return atomic_call(path, lambda p: o3d.io.write_image(p, img))
    except RenderError:
        raise
    except Exception as e:  # noqa: BLE001
        raise RenderError(f'{RENDER_HINT}; rendering failed: {e}') from e
    finally:
        del renderer


def render_voxel_labels_png(path: str, labels, palette, voxel_size: float = 0.2, origin=(0.0, 0.0, 0.0),
                            ignore: Sequence[int] = (0, 255), **kwargs) -> str:
    """Render labelled voxels (their centres, coloured by ``palette``) to a PNG; see :func:`render_png`."""
    centers, colors, _ = voxel_labels_to_points(labels, palette, voxel_size, origin, ignore)
    return render_png(path, centers, colors, **kwargs)


# --- equirectangular depth -> coloured point cloud (360 depth models) ------------------------------------
def pano_depth_to_points(depth, image=None, valid=None, max_depth: Optional[float] = None,
                         align_corners: bool = True) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Back-project an ERP depth map ``(H, W)`` (metres along the ray) to points ``(M, 3)`` in the
    camera frame of :mod:`geoperc.io.equirect` (x right, y forward, z down), with the colours
    ``(M, 3)`` uint8 of ``image`` ``(H, W, 3)`` (RGB) at the same pixels. Pixels kept: ``depth > 0``,
    ``valid`` where given, ``depth <= max_depth`` where given."""
    import torch

    from geoperc.io.equirect import erp_xyz
    d = np.asarray(depth, np.float64).reshape(np.shape(depth)[-2:])
    H, W = d.shape
    keep = d > 0
    if valid is not None:
        keep &= np.asarray(valid, bool).reshape(H, W)
    if max_depth is not None:
        keep &= d <= max_depth
    rays = erp_xyz(H, W, align_corners, torch.float64).numpy()  # (3, H, W)
    pts = (rays * d[None]).reshape(3, -1).T[keep.reshape(-1)]
    cols = None
    if image is not None:
        img = np.asarray(image)
        if img.shape[:2] != (H, W):
            raise ValueError(f'image {img.shape[:2]} and depth {(H, W)} differ in size')
        if not np.issubdtype(img.dtype, np.integer):
            img = np.clip(np.round(img * (255.0 if img.max() <= 1.0 else 1.0)), 0, 255)
        cols = img.reshape(-1, img.shape[-1])[keep.reshape(-1), :3].astype(np.uint8)
    return pts, cols


def write_pano_point_cloud(path: str, depth, image=None, valid=None, max_depth: Optional[float] = None) -> str:
    """Write the coloured back-projection of an ERP depth map (:func:`pano_depth_to_points`) as PLY/PCD."""
    pts, cols = pano_depth_to_points(depth, image, valid, max_depth)
    return write_points(path, pts, cols)


def render_pano_point_cloud_png(path: str, depth, image=None, valid=None, max_depth: Optional[float] = None,
                                cut_above: Optional[float] = 0.0, **kwargs) -> str:
    """Render the back-projected panorama headlessly from above (z is down in the camera frame, so the
    view's up is -z); points higher than ``cut_above`` (z < cut_above, e.g. the ceiling) are left out so
    the room can be seen from above. Other arguments as :func:`render_png`."""
    pts, cols = pano_depth_to_points(depth, image, valid, max_depth)
    if cut_above is not None:
        keep = pts[:, 2] >= cut_above
        pts, cols = pts[keep], (None if cols is None else cols[keep])
    if len(pts) == 0:
        raise ValueError('nothing to render: no valid depth below the cut')
    ext = float(np.linalg.norm(pts.max(0) - pts.min(0))) or 1.0
    kwargs.setdefault('center', (0.0, 0.0, float(np.median(pts[:, 2]))))
    kwargs.setdefault('eye', (0.0, -0.6 * ext, -1.0 * ext))
    kwargs.setdefault('up', (0.0, 0.0, -1.0))
    return render_png(path, pts, cols, **kwargs)


__all__ += ['pano_depth_to_points', 'write_pano_point_cloud', 'render_pano_point_cloud_png']
