"""Bi-temporal GeoTIFF scenes (any size, any band count) cut into windows.

Each scene is a pair of rasters ``a`` (date 1) and ``b`` (date 2) with an optional label raster
(0 unchanged, 1 changed, 255 / nodata not scored). Date 1 defines the grid: the windows are a regular
``tile`` x ``tile`` grid over it (:class:`geoperc.io.tiling.TileGrid`, the grid tiled inference uses)
with ``overlap`` pixels of overlap (with overlap, the stride may be snapped down to the file's block
size); the last row / column extends past the raster and is filled with nodata (boundless reads), so
every window has the same size and, with ``overlap=0``, no pixel is scored twice. When date 2 or the label has another CRS, resolution
or origin, it is warped onto date 1's grid while reading (bilinear for images, nearest for labels).

Each item carries the geo metainfo of its window (``GEO_META_KEYS``): ``crs`` (WKT), ``transform``
(the window's own affine, 6-tuple), ``window`` (col_off, row_off, width, height) in date 1's pixels,
``nodata``, plus ``img_path`` ([a, b]), ``seg_map_path``, ``scene_id``, ``scene_shape`` and the
reference grid ``ref_grid`` the loading transforms read on.

Pipeline::

    [dict(type=LoadMultiDateImages), dict(type=LoadChangeLabel, mapping=None), ...,
     dict(type=PackChangeInputs)]
"""
import os.path as osp
from typing import Dict, List, Sequence

from mmengine.dataset import BaseDataset

from geoperc.registry import DATASETS
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
        **kwargs: the rest of MMEngine's ``BaseDataset`` arguments (``pipeline``, ``test_mode``,
            ``metainfo``, ``indices``, ...).
    """
    METAINFO = CHANGE_METAINFO

    def __init__(self, pairs: Sequence[Dict[str, str]], tile: int = 256, overlap: int = 0,
                 data_root: str = '', **kwargs):
        if not pairs:
            raise ValueError('GeoTIFFChangeDataset needs at least one pair: pairs=[dict(a=..., b=..., label=...)]')
        self.pairs = [dict(p) for p in pairs]
        self.tile = int(tile)
        self.overlap = int(overlap)
        kwargs.setdefault('data_prefix', dict())
        super().__init__(data_root=data_root, **kwargs)

    def _path(self, p: str) -> str:
        p = str(p)
        p = p if osp.isabs(p) or not self.data_root else osp.join(self.data_root, p)
        if not osp.isfile(p):
            raise FileNotFoundError(f'raster not found: {p}')
        return p

    def scene_info(self, pair: Dict[str, str]) -> Dict:
        """Grids of one scene and whether date 2 / the label need warping onto date 1's grid."""
        from geoperc.io.pairs import raster_grid, same_grid
        for k in ('a', 'b'):
            if k not in pair:
                raise KeyError(f'each pair needs keys a and b (label optional), got {sorted(pair)}')
        a, b = self._path(pair['a']), self._path(pair['b'])
        ga, gb = raster_grid(a), raster_grid(b)
        if ga['count'] != gb['count']:
            raise ValueError(f'{a} has {ga["count"]} bands but {b} has {gb["count"]}')
        label = self._path(pair['label']) if pair.get('label') else None
        gl = raster_grid(label) if label else None
        return dict(a=a, b=b, label=label, grid_a=ga, grid_b=gb, grid_label=gl,
                    align_b=not same_grid(ga, gb), align_label=bool(gl) and not same_grid(ga, gl))

    def load_data_list(self) -> List[dict]:
        from geoperc.io.pairs import window_transform
        from geoperc.io.tiling import TileGrid
        data_list = []
        self.scenes = []
        for sid, pair in enumerate(self.pairs):
            s = self.scene_info(pair)
            self.scenes.append(s)
            ga = s['grid_a']
            ref = dict(crs=ga['crs'], transform=ga['transform'], shape=ga['shape'])
            nodata = ga['nodata'] if ga['nodata'] is not None else s['grid_b']['nodata']
            # block-aligned strides when windows overlap anyway (training); exact tiling when
            # overlap == 0 so evaluation scores every pixel once
            grid = TileGrid(ga['shape'], self.tile, self.overlap, block=ga['blocks'] if self.overlap else None)
            for win in grid:
                c, r, w, h = int(win.col_off), int(win.row_off), int(win.width), int(win.height)
                info = dict(img_path=[s['a'], s['b']], window=(c, r, w, h),
                            transform=window_transform(ga['transform'], c, r), crs=ga['crs'],
                            nodata=nodata, ref_grid=ref, scene_id=sid, scene_shape=tuple(ga['shape']),
                            sample_idx=len(data_list))
                if s['label']:
                    info['seg_map_path'] = s['label']
                data_list.append(info)
        return data_list
