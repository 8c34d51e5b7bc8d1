"""Equirectangular (ERP) panoramas <-> tangent-plane (gnomonic) patches, in torch.

What OmniFusion (Li et al., "OmniFusion: 360 Monocular Depth Estimation via Geometry-Aware Fusion", CVPR
2022; official code ``yuliangguo/OmniFusion``, ``equi_pers/equi2pers_v3.py`` and ``pers2equi_v3.py``)
needs around its network: cut an ERP image into tangent patches, give every patch pixel its unit ray on
the sphere (the geometry embedding), and merge per-patch outputs back onto the ERP grid.

Conventions (those of the official code, so released checkpoints see the same inputs):

* **Spherical coordinates.** Longitude ``lon`` in ``[-pi, pi]`` grows with the image column; latitude
  ``lat`` in ``[-pi/2, pi/2]`` grows with the image *row* (``-pi/2`` is the top row, i.e. ``lat`` is the
  negative of the usual elevation). The unit ray is ``(x, y, z) = (cos(lat) sin(lon), cos(lat) cos(lon),
  sin(lat))``: x right, y forward (image centre column), z down.
* **Pixel grid.** ``align_corners=True`` (official): column 0 is ``lon = -pi`` and column ``W-1`` is
  ``lon = +pi``, row 0 is ``lat = -pi/2`` and row ``H-1`` is ``+pi/2`` (``grid_sample(align_corners=True)``
  and ``torch.linspace`` in the official code). ``align_corners=False`` uses pixel centres
  (``lon = ((u + 0.5) / W * 2 - 1) * pi``), the convention of the official data loaders' ``uv_meshgrid``.
* **Patch layout** (:data:`OMNIFUSION_LAYOUTS`): ``nrows`` rows of patches at fixed latitudes; row ``i``
  holds ``n_i`` patches with longitude centres ``(j + 0.5) * 360 / n_i - 180`` degrees. The default
  ``nrows=4`` gives 3 + 6 + 6 + 3 = 18 patches at latitudes -67.5, -22.5, 22.5, 67.5 degrees. Patches are
  ordered row by row from the top, and tensors are laid out ``(B, C, h, w, N)`` as in the official code.
* **Field of view.** The official code places the patch pixels on the tangent plane at ``x in [-fov/2,
  fov/2]`` with ``fov/2`` in *radians* (0.698 for 80 degrees), not at ``tan(fov/2)`` (0.839): the true
  angular field of view of an "80 degree" patch is ``2 * atan(0.698) = 69.8`` degrees.
  ``convention='omnifusion'`` (default) reproduces this; ``convention='exact'`` gives a true FoV.
* **Merge.** Every ERP pixel takes the mean of the patches that see it (inside the patch and
  ``cos(c) > 0``), optionally weighted by a per-patch confidence (OmniFusion: ``merge(pred * conf) /
  merge(conf)``). The official ``pers2equi`` maps tangent coordinates to patch pixels with a scale of
  ``w`` where its sampler used ``w - 1`` (up to half a pixel of disagreement at patch borders) and caches
  its weights in ``./grid/<layer>.pth`` keyed only by a layer name; here the merge is the exact inverse
  of :meth:`TangentProjection.to_patches` and nothing is cached on disk.
"""
import math
import os
import os.path as osp
from typing import Dict, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ['OMNIFUSION_LAYOUTS', 'tangent_centers', 'tangent_half_extent', 'erp_lonlat_grid',
           'erp_pixel_to_lonlat', 'lonlat_to_erp_pixel', 'lonlat_to_xyz', 'xyz_to_lonlat',
           'gnomonic_forward', 'gnomonic_inverse', 'tangent_patch_lonlat', 'TangentProjection',
           'erp_xyz', 'erp_depth_to_points', 'solid_angle_weights', 'read_pano_depth',
           'write_pano_depth_png']

#: nrows -> (patches per row, row latitudes in degrees), from the official ``equi2pers_v3.py``
#: (its ``pers2equi_v3.py`` uses +-59.6 instead of +-60 for nrows=3; we use one value for both directions).
OMNIFUSION_LAYOUTS: Dict[int, Tuple[Tuple[int, ...], Tuple[float, ...]]] = {
    3: ((3, 4, 3), (-60.0, 0.0, 60.0)),
    4: ((3, 6, 6, 3), (-67.5, -22.5, 22.5, 67.5)),
    5: ((3, 6, 8, 6, 3), (-72.2, -36.1, 0.0, 36.1, 72.2)),
    6: ((3, 8, 12, 12, 8, 3), (-75.2, -45.93, -15.72, 15.72, 45.93, 75.2)),
}

Size = Union[int, Tuple[int, int]]


def _pair(v) -> Tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def tangent_centers(nrows: int = 4, dtype: torch.dtype = torch.float64) -> Tensor:
    """Patch centres ``(N, 2)`` as ``(lon, lat)`` in radians, row by row from the top."""
    if nrows not in OMNIFUSION_LAYOUTS:
        raise ValueError(f'nrows must be one of {sorted(OMNIFUSION_LAYOUTS)}, got {nrows}')
    cols, lats = OMNIFUSION_LAYOUTS[nrows]
    out = []
    for n, lat in zip(cols, lats):
        for j in range(n):
            out.append((math.radians((j + 0.5) * 360.0 / n - 180.0), math.radians(lat)))
    return torch.tensor(out, dtype=dtype)


def tangent_half_extent(fov: Union[float, Tuple[float, float]], convention: str = 'omnifusion'
                        ) -> Tuple[float, float]:
    """Half extent ``(hx, hy)`` of a patch on the tangent plane for ``fov`` (degrees, or ``(fov_h,
    fov_w)`` as the official ``pair(fov)``).

    ``'omnifusion'``: ``radians(fov) / 2`` (the official code); ``'exact'``: ``tan(radians(fov) / 2)``.
    """
    fov_h, fov_w = _pair(fov)
    if convention == 'omnifusion':
        f = lambda d: math.radians(d) / 2  # noqa: E731
    elif convention == 'exact':
        f = lambda d: math.tan(math.radians(d) / 2)  # noqa: E731
    else:
        raise ValueError(f"convention must be 'omnifusion' or 'exact', got {convention!r}")
    return f(fov_w), f(fov_h)


def _axis(n: int, align_corners: bool, dtype, device) -> Tensor:
    """Normalised coordinates in [-1, 1] of ``n`` samples (pixel centres when not align_corners)."""
    if align_corners:
        return torch.linspace(-1.0, 1.0, n, dtype=dtype, device=device)
    return (torch.arange(n, dtype=dtype, device=device) + 0.5) / n * 2 - 1


def erp_lonlat_grid(height: int, width: int, align_corners: bool = True, dtype=torch.float32,
                    device=None) -> Tuple[Tensor, Tensor]:
    """``(lon, lat)``, each ``(H, W)``, of every ERP pixel."""
    lon = _axis(width, align_corners, dtype, device) * math.pi
    lat = _axis(height, align_corners, dtype, device) * (math.pi / 2)
    return lon[None, :].expand(height, width), lat[:, None].expand(height, width)


def erp_pixel_to_lonlat(u, v, height: int, width: int, align_corners: bool = True):
    """Pixel ``(u, v)`` (column, row; floats allowed) -> ``(lon, lat)`` radians."""
    if align_corners:
        return (u / (width - 1) * 2 - 1) * math.pi, (v / (height - 1) * 2 - 1) * (math.pi / 2)
    return ((u + 0.5) / width * 2 - 1) * math.pi, ((v + 0.5) / height * 2 - 1) * (math.pi / 2)


def lonlat_to_erp_pixel(lon, lat, height: int, width: int, align_corners: bool = True):
    """``(lon, lat)`` radians -> pixel ``(u, v)`` (floats)."""
    gx, gy = lon / math.pi, lat / (math.pi / 2)
    if align_corners:
        return (gx + 1) / 2 * (width - 1), (gy + 1) / 2 * (height - 1)
    return (gx + 1) / 2 * width - 0.5, (gy + 1) / 2 * height - 0.5


def lonlat_to_xyz(lon: Tensor, lat: Tensor) -> Tensor:
    """Unit rays ``(..., 3)``: ``(cos lat sin lon, cos lat cos lon, sin lat)`` (x right, y forward, z down)."""
    cl = torch.cos(lat)
    return torch.stack([cl * torch.sin(lon), cl * torch.cos(lon), torch.sin(lat)], -1)


def xyz_to_lonlat(xyz: Tensor) -> Tuple[Tensor, Tensor]:
    """Rays ``(..., 3)`` (any length) -> ``(lon, lat)`` radians."""
    r = torch.linalg.norm(xyz, dim=-1).clamp_min(1e-12)
    return torch.atan2(xyz[..., 0], xyz[..., 1]), torch.asin((xyz[..., 2] / r).clamp(-1, 1))


def gnomonic_forward(lon: Tensor, lat: Tensor, lon0, lat0) -> Tuple[Tensor, Tensor, Tensor]:
    """Sphere -> tangent plane at ``(lon0, lat0)``: ``(x, y, cos_c)``; a point is on the visible
    hemisphere of the plane iff ``cos_c > 0`` (x, y are meaningless otherwise)."""
    lon0 = torch.as_tensor(lon0, dtype=lon.dtype, device=lon.device)
    lat0 = torch.as_tensor(lat0, dtype=lon.dtype, device=lon.device)
    dlon = lon - lon0
    cos_c = torch.sin(lat0) * torch.sin(lat) + torch.cos(lat0) * torch.cos(lat) * torch.cos(dlon)
    safe = torch.where(cos_c.abs() < 1e-12, torch.full_like(cos_c, 1e-12), cos_c)
    x = torch.cos(lat) * torch.sin(dlon) / safe
    y = (torch.cos(lat0) * torch.sin(lat) - torch.sin(lat0) * torch.cos(lat) * torch.cos(dlon)) / safe
    return x, y, cos_c


def _wrap_lon(lon: Tensor) -> Tensor:
    """Wrap to [-pi, pi] as the official code (one step each side; +-pi kept)."""
    lon = torch.where(lon > math.pi, lon - 2 * math.pi, lon)
    return torch.where(lon < -math.pi, lon + 2 * math.pi, lon)


def gnomonic_inverse(x: Tensor, y: Tensor, lon0, lat0) -> Tuple[Tensor, Tensor]:
    """Tangent plane at ``(lon0, lat0)`` -> sphere ``(lon, lat)``; ``lon`` wrapped to ``[-pi, pi]``."""
    lon0 = torch.as_tensor(lon0, dtype=x.dtype, device=x.device)
    lat0 = torch.as_tensor(lat0, dtype=x.dtype, device=x.device)
    rho = torch.sqrt(x * x + y * y)
    c = torch.atan(rho)
    sin_c, cos_c = torch.sin(c), torch.cos(c)
    ratio = torch.where(rho > 0, sin_c / torch.where(rho > 0, rho, torch.ones_like(rho)),
                        torch.ones_like(rho))  # sin(c)/rho -> 1 at the centre
    lat = torch.asin((cos_c * torch.sin(lat0) + y * ratio * torch.cos(lat0)).clamp(-1, 1))
    lon = lon0 + torch.atan2(x * sin_c, rho * torch.cos(lat0) * cos_c - y * torch.sin(lat0) * sin_c)
    return _wrap_lon(lon), lat


def _tangent_xy(patch_size: Size, fov, convention: str, align_corners: bool, dtype, device
                ) -> Tuple[Tensor, Tensor]:
    h, w = _pair(patch_size)
    hx, hy = tangent_half_extent(fov, convention)
    xs = _axis(w, align_corners, dtype, device) * hx
    ys = _axis(h, align_corners, dtype, device) * hy
    return xs[None, :].expand(h, w), ys[:, None].expand(h, w)


def tangent_patch_lonlat(patch_size: Size = 256, fov=80.0, nrows: int = 4, convention: str = 'omnifusion',
                         align_corners: bool = True, dtype=torch.float64, device=None
                         ) -> Tuple[Tensor, Tensor]:
    """``(lon, lat)``, each ``(N, h, w)``, of every pixel of every patch."""
    x, y = _tangent_xy(patch_size, fov, convention, align_corners, dtype, device)
    c = tangent_centers(nrows, dtype).to(device)
    return gnomonic_inverse(x[None], y[None], c[:, 0, None, None], c[:, 1, None, None])


class TangentProjection(nn.Module):
    """ERP <-> tangent patches for one configuration (grids built once, kept as non-persistent buffers,
    so ``.to(device)`` moves them and checkpoints do not carry them).

    Args:
        erp_size (int | tuple): ERP ``(H, W)`` that :meth:`to_erp` produces by default.
        patch_size (int | tuple): patch ``(h, w)``; 256 for 512x1024 input in OmniFusion.
        fov (float | tuple): patch field of view in degrees (see ``convention``); 80 in OmniFusion.
        nrows (int): patch layout, a key of :data:`OMNIFUSION_LAYOUTS` (4 -> 18 patches).
        convention (str): ``'omnifusion'`` (official tangent extent) or ``'exact'``.
        align_corners (bool): pixel-grid convention (module docstring); True as the official code.
        padding_mode (str): ``grid_sample`` padding for :meth:`to_patches` ('border' as official).

    Example:
        >>> proj = TangentProjection((512, 1024), patch_size=256)
        >>> patches = proj.to_patches(erp)              # (B, C, 256, 256, 18)
        >>> xyz = proj.patch_xyz(64)                     # (18, 3, 64, 64) geometry embedding input
        >>> depth = proj.to_erp(patch_depth, weights=conf)   # (B, 1, 512, 1024)
    """

    def __init__(self, erp_size: Size, patch_size: Size = 256, fov=80.0, nrows: int = 4,
                 convention: str = 'omnifusion', align_corners: bool = True, padding_mode: str = 'border'):
        super().__init__()
        self.erp_size = _pair(erp_size)
        self.patch_size = _pair(patch_size)
        self.fov = fov
        self.nrows = nrows
        self.convention = convention
        self.align_corners = align_corners
        self.padding_mode = padding_mode
        self.register_buffer('centers', tangent_centers(nrows, torch.float64).float(), persistent=False)
        self.register_buffer('sample_grid', self._sample_grid(self.patch_size), persistent=False)
        grid, valid = self._merge_grid(self.erp_size)
        self.register_buffer('merge_grid', grid, persistent=False)
        self.register_buffer('merge_valid', valid, persistent=False)

    @property
    def num_patches(self) -> int:
        return int(self.centers.shape[0])

    def _sample_grid(self, patch_size) -> Tensor:
        """``(N, h, w, 2)`` normalised ERP coordinates of each patch pixel (float32)."""
        lon, lat = tangent_patch_lonlat(patch_size, self.fov, self.nrows, self.convention,
                                        self.align_corners, torch.float64)
        return torch.stack([lon / math.pi, lat / (math.pi / 2)], -1).float()

    def _merge_grid(self, erp_size) -> Tuple[Tensor, Tensor]:
        """``(N, H, W, 2)`` normalised patch coordinates of each ERP pixel and ``(N, H, W)`` validity."""
        H, W = erp_size
        lon, lat = erp_lonlat_grid(H, W, self.align_corners, torch.float64)
        c = tangent_centers(self.nrows, torch.float64)
        x, y, cos_c = gnomonic_forward(lon[None], lat[None], c[:, 0, None, None], c[:, 1, None, None])
        hx, hy = tangent_half_extent(self.fov, self.convention)
        gx, gy = x / hx, y / hy
        valid = (cos_c > 0) & (gx.abs() <= 1) & (gy.abs() <= 1)
        grid = torch.stack([gx.clamp(-2, 2), gy.clamp(-2, 2)], -1)
        return grid.float(), valid

    def to_patches(self, erp: Tensor) -> Tensor:
        """``(B, C, H, W)`` ERP (any size) -> ``(B, C, h, w, N)`` patches (bilinear)."""
        B, C = erp.shape[:2]
        N, h, w, _ = self.sample_grid.shape
        grid = self.sample_grid.to(erp.dtype).reshape(1, N * h, w, 2).expand(B, -1, -1, -1)
        out = F.grid_sample(erp, grid, mode='bilinear', padding_mode=self.padding_mode,
                            align_corners=self.align_corners)  # (B, C, N*h, w)
        return out.reshape(B, C, N, h, w).permute(0, 1, 3, 4, 2).contiguous()

    def to_erp(self, patches: Tensor, weights: Optional[Tensor] = None, erp_size: Optional[Size] = None,
               return_coverage: bool = False):
        """``(B, C, h, w, N)`` patches -> ``(B, C, H, W)`` ERP: the (weighted) mean of the patches that
        see each pixel; pixels no patch sees are 0.

        Args:
            patches: per-patch maps (any ``h, w``: the grid is in normalised patch coordinates).
            weights: optional ``(B, 1, h, w, N)`` non-negative confidences (OmniFusion's merge of
                ``pred * conf`` over the merge of ``conf``).
            erp_size: output size; default the constructor's (another size is computed on the fly).
            return_coverage: also return ``(H, W)`` the number of patches that see each pixel.
        """
        if erp_size is None or _pair(erp_size) == self.erp_size:
            grid, valid = self.merge_grid, self.merge_valid
        else:
            grid, valid = self._merge_grid(_pair(erp_size))
            grid, valid = grid.to(patches.device), valid.to(patches.device)
        B, C, h, w, N = patches.shape
        if N != grid.shape[0]:
            raise ValueError(f'got {N} patches, the layout nrows={self.nrows} has {grid.shape[0]}')
        H, W = grid.shape[1:3]
        num = patches.new_zeros(B, C, H, W)
        den = patches.new_zeros(B, 1, H, W)
        for n in range(N):
            g = grid[n].to(patches.dtype)[None].expand(B, -1, -1, -1)
            v = valid[n].to(patches.dtype)[None, None]
            s = F.grid_sample(patches[..., n], g, mode='bilinear', padding_mode='border',
                              align_corners=self.align_corners)
            wgt = v
            if weights is not None:
                wgt = v * F.grid_sample(weights[..., n].to(patches.dtype), g, mode='bilinear',
                                        padding_mode='border', align_corners=self.align_corners)
            num = num + s * wgt
            den = den + wgt.expand(B, 1, H, W)
        out = torch.where(den > 0, num / den.clamp_min(1e-12), torch.zeros_like(num))
        if return_coverage:
            return out, valid.sum(0)
        return out

    def patch_lonlat(self, patch_size: Optional[Size] = None) -> Tuple[Tensor, Tensor]:
        """``(lon, lat)`` ``(N, h, w)`` of each patch pixel (float32)."""
        lon, lat = tangent_patch_lonlat(patch_size or self.patch_size, self.fov, self.nrows,
                                        self.convention, self.align_corners, torch.float64,
                                        self.centers.device)
        return lon.float(), lat.float()

    def patch_xyz(self, patch_size: Optional[Size] = None) -> Tensor:
        """``(N, 3, h, w)`` unit rays of each patch pixel: OmniFusion's geometry-embedding input (the
        official model asks for it at 1/4 of the patch size, as a fresh tangent grid at that size)."""
        lon, lat = tangent_patch_lonlat(patch_size or self.patch_size, self.fov, self.nrows,
                                        self.convention, self.align_corners, torch.float64,
                                        self.centers.device)
        return lonlat_to_xyz(lon, lat).permute(0, 3, 1, 2).float().contiguous()


def erp_xyz(height: int, width: int, align_corners: bool = True, dtype=torch.float32, device=None) -> Tensor:
    """``(3, H, W)`` unit ray of every ERP pixel."""
    lon, lat = erp_lonlat_grid(height, width, align_corners, torch.float64, device)
    return lonlat_to_xyz(lon, lat).permute(2, 0, 1).to(dtype)


def erp_depth_to_points(depth: Tensor, valid: Optional[Tensor] = None, align_corners: bool = True
                        ) -> Tensor:
    """ERP depth ``(H, W)`` (distance from the camera centre along the ray, as Stanford2D3D and
    Matterport3D panoramas store it) -> ``(M, 3)`` points in the camera frame (x right, y forward,
    z down) for pixels where ``valid`` (default: ``depth > 0``) holds."""
    depth = torch.as_tensor(depth)
    if depth.ndim == 3:
        depth = depth[0]
    H, W = depth.shape
    rays = erp_xyz(H, W, align_corners, torch.float64, depth.device)
    pts = (rays * depth.to(torch.float64)[None]).permute(1, 2, 0).reshape(-1, 3)
    keep = (depth > 0) if valid is None else torch.as_tensor(valid, device=depth.device).reshape(H, W)
    return pts[keep.reshape(-1).bool()].float()


def solid_angle_weights(height: int, width: int, align_corners: bool = True, dtype=torch.float32,
                        device=None) -> Tensor:
    """``(H, W)`` per-pixel solid-angle weights ``cos(lat)`` (relative; the optional spherical weighting
    of depth metrics)."""
    _, lat = erp_lonlat_grid(height, width, align_corners, torch.float64, device)
    return torch.cos(lat).clamp_min(0).to(dtype)


# --- panorama depth files ------------------------------------------------------------------------------
def read_pano_depth(path: str, scale: float = 1.0, missing_value: Optional[float] = None,
                    channel: int = 0) -> np.ndarray:
    """Read a panorama depth map as float32 metres, 0 where there is no measurement.

    * 16-bit PNG / TIFF (Stanford2D3D: ``scale=1/512``, ``missing_value=65535``; Matterport3D as
      prepared by UniFuse/OmniFusion: ``scale=1/4000``): ``value * scale``, 0 stays 0.
    * OpenEXR (3D60 / 360D: float metres, channel 0 = R): needs an OpenCV build with OpenEXR (read with
      ``OPENCV_IO_ENABLE_OPENEXR=1``) or the ``OpenEXR`` Python package; otherwise a clear error.
    * ``.npy``: a float array in the file's unit times ``scale``.

    Non-finite values become 0.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'depth map not found: {path}')
    ext = osp.splitext(path)[1].lower()
    if ext == '.npy':
        raw = np.load(path).astype(np.float64)
    elif ext == '.exr':
        raw = _read_exr(path)
    else:
        import cv2
        raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise OSError(f'could not read depth image {path}')
        raw = raw.astype(np.float64)
    if raw.ndim == 3:
        raw = raw[..., channel]
    valid = np.isfinite(raw)
    if missing_value is not None:
        valid &= raw != missing_value
    out = np.where(valid, raw * scale, 0.0)
    return np.maximum(out, 0.0).astype(np.float32)


def _read_exr(path: str) -> np.ndarray:
    os.environ.setdefault('OPENCV_IO_ENABLE_OPENEXR', '1')
    errors = []
    try:
        import cv2
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
        if img is not None:
            return img.astype(np.float64)[..., ::-1] if img.ndim == 3 else img.astype(np.float64)
        errors.append('OpenCV returned nothing (built without OpenEXR?)')
    except Exception as e:  # noqa: BLE001
        errors.append(f'OpenCV: {e}')
    try:
        import Imath
        import OpenEXR
        f = OpenEXR.InputFile(path)
        dw = f.header()['dataWindow']
        w, h = dw.max.x - dw.min.x + 1, dw.max.y - dw.min.y + 1
        chans = [c for c in ('R', 'G', 'B') if c in f.header()['channels']] or list(f.header()['channels'])
        pt = Imath.PixelType(Imath.PixelType.FLOAT)
        return np.stack([np.frombuffer(f.channel(c, pt), np.float32).reshape(h, w) for c in chans],
                        -1).astype(np.float64)
    except ImportError:
        errors.append('the OpenEXR package is not installed')
    raise OSError(f'cannot read OpenEXR depth {path}: ' + '; '.join(errors) +
                  ' (install OpenEXR, or an OpenCV build with OpenEXR support)')


def write_pano_depth_png(path: str, depth_m, scale: float = 1.0 / 512, missing_value: Optional[int] = 65535
                         ) -> None:
    """Write metres as a 16-bit PNG with ``value = round(depth / scale)``; ``depth <= 0`` ->
    ``missing_value`` (Stanford2D3D: 65535) or 0 when None."""
    import cv2
    d = np.asarray(depth_m, np.float64)
    v = np.clip(np.round(d / scale), 0, 65535)
    v = np.where(d > 0, v, missing_value if missing_value is not None else 0).astype(np.uint16)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, v):
        raise OSError(f'could not write {path}')


# --- pictures --------------------------------------------------------------------------------------------
def depth_colormap(depth, max_depth: Optional[float] = None, valid=None) -> np.ndarray:
    """``(H, W)`` metres -> ``(H, W, 3)`` uint8 RGB (turbo, 0 m .. ``max_depth``); invalid pixels black."""
    import cv2
    d = np.asarray(depth, np.float64).reshape(np.shape(depth)[-2:])
    ok = np.isfinite(d) & (d > 0) if valid is None else np.asarray(valid, bool).reshape(d.shape) & np.isfinite(d)
    top = float(max_depth) if max_depth else (float(np.percentile(d[ok], 99)) if ok.any() else 1.0)
    u8 = np.clip(np.where(ok, d, 0) / max(top, 1e-6) * 255, 0, 255).astype(np.uint8)
    rgb = cv2.applyColorMap(u8, cv2.COLORMAP_TURBO)[..., ::-1].copy()
    rgb[~ok] = 0
    return rgb


def write_depth_panel_png(path: str, image, pred, gt=None, valid=None, max_depth: Optional[float] = None) -> str:
    """Write a PNG with, top to bottom, the RGB panorama (``(H, W, 3)`` uint8 RGB), the predicted depth,
    the absolute error (black where ``gt`` is missing or not ``valid``) and the ground truth, each
    labelled; depth colours share one scale (``max_depth``, default the ground truth's 99th percentile).
    Written to a temporary file and renamed."""
    import cv2
    img = np.asarray(image)
    p = np.asarray(pred, np.float64).reshape(np.shape(pred)[-2:])
    H, W = p.shape
    if img.shape[:2] != (H, W):
        raise ValueError(f'image {img.shape[:2]} and prediction {(H, W)} differ in size')
    rows = [('RGB', np.ascontiguousarray(img[..., :3]).astype(np.uint8))]
    if gt is not None:
        g = np.asarray(gt, np.float64).reshape(H, W)
        ok = g > 0 if valid is None else (np.asarray(valid, bool).reshape(H, W) & (g > 0))
        top = max_depth or (float(np.percentile(g[ok], 99)) if ok.any() else float(p.max() or 1.0))
        rows.append((f'prediction (0-{top:.1f} m)', depth_colormap(p, top)))
        err = np.where(ok, np.abs(p - g), 0.0)
        rows.append((f'|error| (0-{top / 4:.2f} m)', depth_colormap(err, top / 4, ok)))
        rows.append(('ground truth', depth_colormap(g, top, ok)))
    else:
        rows.append(('prediction', depth_colormap(p, max_depth)))
    scale = max(1, int(round(512 / W)))
    tiles = []
    for label, tile in rows:
        tile = cv2.resize(tile, (W * scale, H * scale), interpolation=cv2.INTER_NEAREST)[..., ::-1].copy()
        cv2.putText(tile, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    panel = np.concatenate(tiles, 0)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = osp.join(osp.dirname(osp.abspath(path)), f'.{osp.basename(path)}.tmp{os.getpid()}.png')
    if not cv2.imwrite(tmp, panel):
        raise OSError(f'could not write {path}')
    os.replace(tmp, path)
    return path


__all__ += ['depth_colormap', 'write_depth_panel_png']
