"""Tangent-patch sampling and the cached patch -> equirectangular merge weights of OmniFusion.

Geometry from :mod:`geoperc.io.equirect` (official conventions: ``align_corners=True`` ERP grid, patch
centres of :data:`~geoperc.io.equirect.OMNIFUSION_LAYOUTS`, tangent half extent ``radians(fov) / 2``
or the exact ``tan(fov / 2)``). This module adds what the model needs on every forward pass:

* :func:`sample_grid` / :func:`patch_xyz`: the ``grid_sample`` grid that cuts an ERP map of any size
  into ``N`` tangent patches (official ``equi2pers``), and the unit ray of every patch pixel (the
  geometric-embedding input), built once per setting and kept in memory.
* :func:`merge_weights`: for every ERP pixel, the patch pixels that contribute to it and their weights,
  as a compact ``(H*W, K)`` index / weight pair (``K`` = the most contributions any pixel has). Two
  conventions (``merge=``):

  ``'omnifusion'`` (official ``pers2equi_v3.py``)
      tangent coordinate ``g`` in ``[-1, 1]`` -> patch pixel ``(g + 1) / 2 * w`` (a scale of ``w``
      where the sampler used ``w - 1``); a patch counts where ``0 < px < w``, ``0 < py < h`` and
      ``cos c > 0``; bilinear corner weights computed with corners clamped to the patch, weights
      ``<= 1e-5`` dropped (this also drops the negative weights the clamping produces on the last
      row / column), then L1-normalised over every patch and corner of the pixel.
  ``'exact'``
      the inverse of the sampler (scale ``w - 1``, ``|g| <= 1``), normalised the same way.

* :func:`apply_merge` (a gather) or :func:`apply_merge_sparse` (the same weights as sparse CSR matrices
  ``W`` and ``W^T``, one sparse product forward and one backward; the model's default, about 10x
  faster on a CPU) apply them.
* :class:`MergeWeightCache`: merge weights are costly (every ERP pixel against every patch), so they
  are cached, keyed by *every* setting that changes them (layout, patch size, ERP size, FoV, FoV
  convention, merge convention): in memory, and optionally as ``.pth`` files in a directory you name
  (e.g. the run's work directory). Nothing is ever written to the current directory (the official code
  writes ``./grid/<layer>.pth`` keyed by a layer name only and silently reuses a stale grid when the
  configuration changes).
"""
import hashlib
import math
import os
import os.path as osp
from collections import OrderedDict
from typing import Optional, Tuple

import torch
from torch import Tensor

from geoperc.io.equirect import (erp_lonlat_grid, gnomonic_forward, lonlat_to_xyz, tangent_centers,
                                 tangent_half_extent, tangent_patch_lonlat)

__all__ = ['MERGE_CONVENTIONS', 'sample_grid', 'patch_xyz', 'compute_merge_weights', 'merge_weights',
           'MergeWeightCache', 'apply_merge', 'merge_key', 'merge_matrices', 'apply_merge_sparse']

MERGE_CONVENTIONS = ('omnifusion', 'exact')

_GRIDS: 'OrderedDict[tuple, Tensor]' = OrderedDict()
_GRID_CACHE_SIZE = 16


def _pair(v) -> Tuple[int, int]:
    return tuple(int(x) for x in v) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _fov(v) -> Tuple[float, float]:
    return tuple(float(x) for x in v) if isinstance(v, (tuple, list)) else (float(v), float(v))


def _memo(key: tuple, build):
    t = _GRIDS.get(key)
    if t is None:
        t = build()
        _GRIDS[key] = t
        while len(_GRIDS) > _GRID_CACHE_SIZE:
            _GRIDS.popitem(last=False)
    else:
        _GRIDS.move_to_end(key)
    return t


def sample_grid(nrows: int, patch_size, fov, fov_convention: str = 'omnifusion', device=None) -> Tensor:
    """``(1, N*h, w, 2)`` normalised ERP coordinates of the patch pixels, patches stacked along the rows
    (one ``grid_sample`` call cuts all patches; output ``(B, C, N*h, w)``)."""
    h, w = _pair(patch_size)
    key = ('sample', nrows, (h, w), _fov(fov), fov_convention, str(torch.device(device or 'cpu')))

    def build():
        lon, lat = tangent_patch_lonlat((h, w), _fov(fov), nrows, fov_convention, True, torch.float64)
        g = torch.stack([lon / math.pi, lat / (math.pi / 2)], -1).float()  # (N, h, w, 2)
        return g.reshape(1, -1, w, 2).to(device)
    return _memo(key, build)


def patch_xyz(nrows: int, patch_size, fov, fov_convention: str = 'omnifusion', device=None) -> Tensor:
    """``(N, 3, h, w)`` unit ray ``(x right, y forward, z down)`` of every pixel of a fresh tangent grid of
    ``patch_size`` (the official model asks for it at a quarter of the patch size)."""
    h, w = _pair(patch_size)
    key = ('xyz', nrows, (h, w), _fov(fov), fov_convention, str(torch.device(device or 'cpu')))

    def build():
        lon, lat = tangent_patch_lonlat((h, w), _fov(fov), nrows, fov_convention, True, torch.float64)
        return lonlat_to_xyz(lon, lat).permute(0, 3, 1, 2).float().contiguous().to(device)
    return _memo(key, build)


def merge_key(nrows: int, patch_size, erp_size, fov, fov_convention: str = 'omnifusion',
              merge: str = 'omnifusion') -> tuple:
    """The cache key: every setting the merge weights depend on."""
    if merge not in MERGE_CONVENTIONS:
        raise ValueError(f'merge must be one of {MERGE_CONVENTIONS}, got {merge!r}')
    return ('merge-v1', int(nrows), _pair(patch_size), _pair(erp_size), _fov(fov), str(fov_convention), merge)


def compute_merge_weights(nrows: int, patch_size, erp_size, fov, fov_convention: str = 'omnifusion',
                          merge: str = 'omnifusion', chunk_rows: int = 64) -> Tuple[Tensor, Tensor]:
    """Merge weights ``(index (H*W, K) int64, weight (H*W, K) float32)`` (see the module docstring).

    ``index`` points into a patch stack flattened as ``(N, h, w)`` (``n * h * w + y * w + x``); the
    weights of a pixel sum to 1 where at least one patch sees it and are 0 elsewhere.
    """
    merge_key(nrows, patch_size, erp_size, fov, fov_convention, merge)  # validates
    ph, pw = _pair(patch_size)
    H, W = _pair(erp_size)
    hx, hy = tangent_half_extent(_fov(fov), fov_convention)
    c = tangent_centers(nrows, torch.float64)
    N = c.shape[0]
    lon_all, lat_all = erp_lonlat_grid(H, W, True, torch.float64)
    idx_chunks, w_chunks = [], []
    for r0 in range(0, H, chunk_rows):
        lon, lat = lon_all[r0:r0 + chunk_rows], lat_all[r0:r0 + chunk_rows]
        x, y, cos_c = gnomonic_forward(lon[None], lat[None], c[:, 0, None, None], c[:, 1, None, None])
        gx, gy = x / hx, y / hy  # (N, rows, W)
        if merge == 'omnifusion':
            px, py = (gx + 1) * 0.5 * pw, (gy + 1) * 0.5 * ph
            inside = (px > 0) & (px < pw) & (py > 0) & (py < ph) & (cos_c > 0)
        else:
            px, py = (gx + 1) * 0.5 * (pw - 1), (gy + 1) * 0.5 * (ph - 1)
            inside = (px >= 0) & (px <= pw - 1) & (py >= 0) & (py <= ph - 1) & (cos_c > 0)
        px = torch.where(inside, px, torch.zeros_like(px))
        py = torch.where(inside, py, torch.zeros_like(py))
        if merge == 'omnifusion':  # floor, +1, both clamped (official)
            x0 = px.floor().clamp(0, pw - 1)
            y0 = py.floor().clamp(0, ph - 1)
            x1 = (px.floor() + 1).clamp(0, pw - 1)
            y1 = (py.floor() + 1).clamp(0, ph - 1)
        else:  # a proper bilinear cell, also on the last row / column
            x0 = px.floor().clamp(0, max(pw - 2, 0))
            y0 = py.floor().clamp(0, max(ph - 2, 0))
            x1 = (x0 + 1).clamp(max=pw - 1)
            y1 = (y0 + 1).clamp(max=ph - 1)
        wa = (x1 - px) * (y1 - py)  # (y0, x0)
        wb = (x1 - px) * (py - y0)  # (y1, x0)
        wc = (px - x0) * (y1 - py)  # (y0, x1)
        wd = (px - x0) * (py - y0)  # (y1, x1)
        wts = torch.stack([wa, wb, wc, wd], -1) * inside[..., None]  # (N, rows, W, 4)
        wts = wts * (wts > (1e-5 if merge == 'omnifusion' else 0.0))
        n = torch.arange(N, dtype=torch.float64).view(N, 1, 1)
        base = n * (ph * pw)
        idx = torch.stack([base + y0 * pw + x0, base + y1 * pw + x0, base + y0 * pw + x1, base + y1 * pw + x1], -1)
        rows = lon.shape[0]
        wts = wts.permute(1, 2, 0, 3).reshape(rows * W, N * 4)
        idx = idx.permute(1, 2, 0, 3).reshape(rows * W, N * 4).long()
        wts = wts / wts.sum(-1, keepdim=True).clamp_min(1e-12)
        k = max(int((wts > 0).sum(-1).max()), 1)
        top_w, top_i = wts.topk(k, dim=-1)
        idx_chunks.append(torch.gather(idx, 1, top_i))
        w_chunks.append(top_w.float())
    K = max(t.shape[1] for t in w_chunks)
    pad = lambda t: torch.nn.functional.pad(t, (0, K - t.shape[1]))  # noqa: E731 (index 0, weight 0)
    return torch.cat([pad(t) for t in idx_chunks]), torch.cat([pad(t) for t in w_chunks])


class MergeWeightCache:
    """Merge weights keyed by :func:`merge_key`, in memory (``maxsize`` settings, one copy per device)
    and, when ``cache_dir`` is given, as ``omnifusion_merge_<hash>.pth`` files there (the file stores its
    key and is ignored when the key differs). ``cache_dir=None`` never touches the disk."""

    def __init__(self, cache_dir: Optional[str] = None, maxsize: int = 8):
        self.cache_dir = cache_dir
        self.maxsize = int(maxsize)
        self._mem: 'OrderedDict[tuple, Tuple[Tensor, Tensor]]' = OrderedDict()
        self.computed = 0  # how many times weights were computed (not found in memory or on disk)

    def path(self, key: tuple) -> Optional[str]:
        if not self.cache_dir:
            return None
        h = hashlib.sha1(repr(key).encode()).hexdigest()[:16]
        return osp.join(self.cache_dir, f'omnifusion_merge_{h}.pth')

    def _load(self, key):
        p = self.path(key)
        if p is None or not osp.isfile(p):
            return None
        try:
            d = torch.load(p, map_location='cpu', weights_only=True)
        except Exception:  # noqa: BLE001 - a corrupt cache file is recomputed
            return None
        if d.get('key') != repr(key):
            return None
        return d['index'], d['weight']

    def _save(self, key, value):
        p = self.path(key)
        if p is None:
            return
        os.makedirs(self.cache_dir, exist_ok=True)
        tmp = f'{p}.tmp{os.getpid()}'
        torch.save({'key': repr(key), 'index': value[0], 'weight': value[1]}, tmp)
        os.replace(tmp, p)

    def get(self, key: tuple, device=None) -> Tuple[Tensor, Tensor]:
        dkey = key + (str(torch.device(device or 'cpu')),)
        hit = self._mem.get(dkey)
        if hit is not None:
            self._mem.move_to_end(dkey)
            return hit
        cpu_key = key + ('cpu',)
        value = self._mem.get(cpu_key) or self._load(key)
        if value is None:
            _, nrows, patch, erp, fov, fov_conv, merge = key
            value = compute_merge_weights(nrows, patch, erp, fov, fov_conv, merge)
            self.computed += 1
            self._save(key, value)
        value = (value[0].to(device), value[1].to(device))
        self._mem[dkey] = value
        while len(self._mem) > self.maxsize:
            self._mem.popitem(last=False)
        return value

    def get_sparse(self, key: tuple, device=None) -> Tuple[Tensor, Tensor]:
        """The weights of :meth:`get` as sparse CSR matrices ``(W (H*W, N*h*w), W^T)``
        (:func:`merge_matrices`), kept in memory next to them."""
        skey = key + ('csr', str(torch.device(device or 'cpu')))
        hit = self._mem.get(skey)
        if hit is None:
            _, _, patch, erp, _, _, _ = key
            index, weight = self.get(key, 'cpu')
            n = tg_patches(key)
            hit = tuple(m.to(device) for m in merge_matrices(index, weight, n * patch[0] * patch[1]))
            self._mem[skey] = hit
            while len(self._mem) > self.maxsize:
                self._mem.popitem(last=False)
        else:
            self._mem.move_to_end(skey)
        return hit

    def __getstate__(self):  # deep copies / pickles of a model do not carry the tensors
        return dict(cache_dir=self.cache_dir, maxsize=self.maxsize, _mem=OrderedDict(), computed=0)


def tg_patches(key: tuple) -> int:
    """Number of patches of the layout in a :func:`merge_key`."""
    return int(tangent_centers(key[1], torch.float64).shape[0])


def merge_weights(nrows: int, patch_size, erp_size, fov, fov_convention: str = 'omnifusion',
                  merge: str = 'omnifusion', cache: Optional[MergeWeightCache] = None, device=None):
    """Merge weights through ``cache`` (a fresh computation when ``cache`` is None)."""
    key = merge_key(nrows, patch_size, erp_size, fov, fov_convention, merge)
    if cache is None:
        i, w = compute_merge_weights(nrows, patch_size, erp_size, fov, fov_convention, merge)
        return i.to(device), w.to(device)
    return cache.get(key, device)


def apply_merge(patches: Tensor, index: Tensor, weight: Tensor, erp_size) -> Tensor:
    """``(B, C, N, h, w)`` patch maps -> ``(B, C, H, W)`` ERP map with merge weights."""
    B, C = patches.shape[:2]
    H, W = _pair(erp_size)
    flat = patches.reshape(B, C, -1)
    g = torch.index_select(flat, 2, index.reshape(-1)).view(B, C, H * W, index.shape[1])
    return (g * weight.to(patches.dtype)).sum(-1).view(B, C, H, W)


def merge_matrices(index: Tensor, weight: Tensor, num_patch_pixels: int) -> Tuple[Tensor, Tensor]:
    """Merge weights as sparse CSR matrices ``W`` ``(H*W, N*h*w)`` and its transpose (the zero-weight
    padding entries dropped)."""
    import warnings
    keep = weight > 0
    HW, K = weight.shape
    rows = torch.arange(HW).unsqueeze(1).expand(HW, K)[keep]
    with warnings.catch_warnings():  # "sparse CSR support is in beta" / invariant-check notices
        warnings.simplefilter('ignore', UserWarning)
        coo = torch.sparse_coo_tensor(torch.stack([rows, index[keep]]), weight[keep].float(),
                                      (HW, num_patch_pixels), check_invariants=True).coalesce()
        return coo.to_sparse_csr(), coo.t().coalesce().to_sparse_csr()


class _SparseMerge(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, W, Wt):  # x (P, B*C)
        ctx.save_for_backward(Wt)
        return W @ x

    @staticmethod
    def backward(ctx, g):
        (Wt,) = ctx.saved_tensors
        return Wt @ g.contiguous(), None, None


def apply_merge_sparse(patches: Tensor, W: Tensor, Wt: Tensor, erp_size) -> Tensor:
    """:func:`apply_merge` with the CSR matrices of :func:`merge_matrices` (one sparse product forward and
    one backward; about 20x faster than the gather on a CPU)."""
    B, C = patches.shape[:2]
    H, W_ = _pair(erp_size)
    x = patches.reshape(B * C, -1).t().contiguous()
    if x.dtype != W.dtype:
        return apply_merge_sparse(patches.float(), W, Wt, erp_size).to(patches.dtype)
    out = _SparseMerge.apply(x, W, Wt)  # (H*W, B*C)
    return out.t().reshape(B, C, H, W_)
