"""Bi-temporal GeoTIFF scenes (any size, any band count) cut into windows.

Each scene is a pair of rasters ``a`` (date 1) and ``b`` (date 2) with an optional label raster. Date 1
defines the grid: the windows are a regular ``tile`` x ``tile`` grid over it
(:class:`geoperc.io.tiling.TileGrid`, the grid tiled inference uses) with ``overlap`` pixels of overlap
(with overlap, the stride may be snapped down to the file's block size); the last row / column extends
past the raster and is filled with nodata (boundless reads), so every window has the same size and, with
``overlap=0``, no pixel is scored twice. When date 2 or the label has another CRS, resolution or origin,
it is warped onto date 1's grid while reading (bilinear for images, nearest for labels). Every raster is
read through :mod:`geoperc.io.raster` (:class:`~geoperc.io.raster.GridReader`), the reader tiled inference
uses, with the same mask rule: GDAL's dataset mask (per-dataset mask, nodata, alpha band) says which
pixels hold data, and an alpha band used as the mask is not one of the bands (``bands=`` chooses bands).

Labels: ``label_encoding`` (:mod:`geoperc.datasets.change.labels`) says how label values read:
``'01'`` (0 unchanged, 1 changed, 255 / nodata not scored), ``'0255'`` (255 = changed) or ``'auto'``
(default): the label rasters are scanned once at construction (strip by strip) and the encoding is
decided from their values -- a label whose only non-zero value is 255 is read as 0/255 and the decision is
logged. An explicit ``'01'`` on a set whose labels hold 255 but never 1 is refused (every change pixel
would be ignored and change recall would be 0 without a word).

Each item carries the geo metainfo of its window (``GEO_META_KEYS``): ``crs`` (WKT), ``transform``
(the window's own affine, 6-tuple), ``window`` (col_off, row_off, width, height) in date 1's pixels,
``nodata``, plus ``img_path`` ([a, b]), ``seg_map_path``, ``scene_id``, ``scene_shape``, the reference
grid ``ref_grid`` the loading transforms read on, ``bands`` and ``label_encoding``.

Pipeline::

    [dict(type=LoadMultiDateImages), dict(type=LoadChangeLabel), ..., dict(type=PackChangeInputs)]
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmengine.dataset import BaseDataset

from geoperc.errors import DatasetError
from geoperc.registry import DATASETS
from . import labels as label_codes
from .base import CHANGE_METAINFO


@DATASETS.register_module()
class GeoTIFFChangeDataset(BaseDataset):
    """Windows over bi-temporal GeoTIFF scenes (see the module docstring).

    Args:
        pairs (list[dict]): ``dict(a=..., b=..., label=...)`` per scene (``label`` optional),
            paths relative to ``data_root`` or absolute.
        tile (int): window size in pixels of date 1.
        overlap (int): overlap between neighbouring windows, ``0 <= overlap < tile``.
        data_root (str): root of relative paths.
        bands (list[int], optional): 1-based band numbers read on both dates (as GDAL counts); default
            every band except an alpha band GDAL uses as the mask.
        label_encoding (str): ``'auto'`` (default), ``'01'`` or ``'0255'``; see the module docstring.
        **kwargs: the rest of MMEngine's ``BaseDataset`` arguments (``pipeline``, ``test_mode``,
            ``metainfo``, ``indices``, ...).
    """
    METAINFO = CHANGE_METAINFO

    def __init__(self, pairs: Sequence[Dict[str, str]], tile: int = 256, overlap: int = 0,
                 data_root: str = '', bands: Optional[Sequence[int]] = None, label_encoding: str = 'auto',
                 **kwargs):
        if not pairs:
            raise DatasetError('GeoTIFFChangeDataset needs at least one pair: pairs=[dict(a=..., b=..., label=...)]')
        self.pairs = [dict(p) for p in pairs]
        self.tile = int(tile)
        self.overlap = int(overlap)
        self.bands = None if bands is None else [int(b) for b in bands]
        self.label_encoding = label_codes.check_name(label_encoding)
        kwargs.setdefault('data_prefix', dict())
        super().__init__(data_root=data_root, **kwargs)

    def _path(self, p: str) -> str:
        p = str(p)
        p = p if osp.isabs(p) or not self.data_root else osp.join(self.data_root, p)
        if not osp.isfile(p):
            raise FileNotFoundError(f'raster not found: {p}')
        return p

    def scene_info(self, pair: Dict[str, str]) -> Dict:
        """Grids of one scene, whether date 2 / the label need warping onto date 1's grid, and the values of
        the label (for the encoding)."""
        from geoperc.io.raster import alignment_notice, open_raster, raster_info, same_grid
        for k in ('a', 'b'):
            if k not in pair:
                raise KeyError(f'each pair needs keys a and b (label optional), got {sorted(pair)}')
        a, b = self._path(pair['a']), self._path(pair['b'])
        with open_raster(a, require_crs=False) as sa, open_raster(b, require_crs=False) as sb:
            ia, ib = raster_info(sa, self.bands), raster_info(sb, self.bands)
            blocks = tuple(sa.block_shapes[0])
        if ia.count != ib.count:
            raise DatasetError(f'{a} has {ia.count} bands but {b} has {ib.count}'
                               + (' (alpha bands used as masks excluded)' if ia.alpha_band or ib.alpha_band else ''))
        align_b = not same_grid(ia, ib)
        if align_b and ia.crs is not None and ib.crs is not None:
            alignment_notice(ib, ia, b, a, 'bilinear')  # refuses dates that do not overlap
        label = self._path(pair['label']) if pair.get('label') else None
        il, values, nodata = None, None, None
        if label:
            with open_raster(label, require_crs=False) as sl:
                il = raster_info(sl, [1])
            values, nodata = label_codes.raster_label_values(label)
        return dict(a=a, b=b, label=label, info_a=ia, info_b=ib, info_label=il, grid_a=ia.grid.to_dict(),
                    blocks=blocks, align_b=align_b, align_label=il is not None and not same_grid(ia, il),
                    label_values=values, label_nodata=nodata)

    def load_data_list(self) -> List[dict]:
        from geoperc.io.raster import window_transform
        from geoperc.io.tiling import TileGrid
        self.scenes = [self.scene_info(pair) for pair in self.pairs]
        labelled = [(s['label'], s['label_values'], s['label_nodata']) for s in self.scenes if s['label']]
        encoding = label_codes.resolve(self.label_encoding, labelled) if labelled else None
        data_list = []
        for sid, s in enumerate(self.scenes):
            ia, ref = s['info_a'], s['grid_a']
            nodata = ia.nodata if ia.nodata is not None else s['info_b'].nodata
            # block-aligned strides when windows overlap anyway (training); exact tiling when
            # overlap == 0 so evaluation scores every pixel once
            grid = TileGrid(ia.shape, self.tile, self.overlap, block=s['blocks'] if self.overlap else None)
            for win in grid:
                c, r, w, h = int(win.col_off), int(win.row_off), int(win.width), int(win.height)
                info = dict(img_path=[s['a'], s['b']], window=(c, r, w, h),
                            transform=tuple(window_transform(ia.transform, win))[:6], crs=ref['crs'],
                            nodata=nodata, ref_grid=ref, scene_id=sid, scene_shape=tuple(ia.shape),
                            bands=self.bands, sample_idx=len(data_list))
                if s['label']:
                    info['seg_map_path'] = s['label']
                    info['label_encoding'] = encoding
                data_list.append(info)
        return data_list
