"""360-degree monocular depth datasets: equirectangular RGB + depth panoramas.

* :class:`Stanford2D3DDataset` reads the Stanford 2D-3D-Semantics release layout (Armeni et al., 2017;
  ``alexsax/2D-3D-Semantics``)::

      area_{1,2,3,4,5a,5b,6}/pano/rgb/camera_<uuid>_<room>_frame_equirectangular_domain_rgb.png
      area_*/pano/depth/camera_<uuid>_<room>_frame_equirectangular_domain_depth.png

  4096 x 2048 panoramas; depth is a 16-bit PNG in units of 1/512 m (so at most 128 m), 65535 = missing,
  measured along the ray from the camera centre (not z-depth). The split used by UniFuse and OmniFusion
  is fold 1: train on areas 1, 2, 3, 4, 6 and test on area 5 (5a + 5b).

* :class:`PanoSplitListDataset` reads the split lists UniFuse (``alibaba/UniFuse-Unidirectional-Fusion``,
  ``UniFuse/datasets/*.txt``) and OmniFusion (``filenames/*.txt``) train and test on: one sample per line,
  ``<rgb path> <depth path>`` separated by whitespace (extra columns ignored), relative to ``data_root``
  (OmniFusion's lists start with ``/`` and are concatenated to the root; both forms work). Depth
  encodings by ``depth_format``:

  ================  ===================================  ======================================
  depth_format      file                                 metres
  ================  ===================================  ======================================
  ``stanford2d3d``  16-bit PNG                           value / 512, 65535 missing
  ``matterport3d``  16-bit PNG (UniFuse stitching)       value / 4000
  ``3d60``          OpenEXR float (channel R)            value
  ================  ===================================  ======================================

  3D60 (360D) lists name each view with a yaw, ``..._color_0_Left_Down_90.0.png``. UniFuse reads the
  ``..._0.0`` file and rolls the panorama by ``W * yaw / 360`` columns (``recover_rotation=True``);
  OmniFusion opens the listed name as is (the default).

What the official loaders then do with depth (documented, not applied here: ranges belong to the metric,
:mod:`geoperc.evaluation.functional.depth`): UniFuse clamps depth above ``max + 1`` and validates
``0 < d <= 10`` m; OmniFusion keeps ``0.3 < d <= max`` with max 8 m (Stanford2D3D, 360D) or 10 m
(Matterport3D), and OmniFusion's Stanford loader scales by ``128 / 65535`` instead of ``1 / 512``
(``depth_scale=128 / 65535`` reproduces it).

Each item has ``img_path``, ``depth_path``, ``sample_idx`` and, when fetched, ``img`` (``H x W x 3`` uint8 in
``channel_order``; OmniFusion feeds BGR, UniFuse RGB), ``gt_depth`` (``H x W`` float32 metres, 0 = no
data), ``depth_valid`` (bool, ``min_depth < d <= max_depth``), ``img_shape``/``ori_shape``, and the
``erp_roll`` applied (columns).
"""
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset

from geoperc.errors import DatasetError, SettingsError
from geoperc.io.equirect import read_pano_depth
from geoperc.registry import DATASETS


class PanoFileNotFound(DatasetError, FileNotFoundError):
    """A panorama, depth map, folder or split list named by the dataset does not exist."""

DEPTH_FORMATS: Dict[str, dict] = {
    'stanford2d3d': dict(depth_scale=1.0 / 512, missing_value=65535),
    'matterport3d': dict(depth_scale=1.0 / 4000, missing_value=None),
    '3d60': dict(depth_scale=1.0, missing_value=None),
}
_ROT_RE = re.compile(r'_(-?\d+)\.(\d+)(\.[A-Za-z0-9]+)$')


class PanoDepthDataset(BaseDataset):
    """Shared loading of an RGB + depth panorama item (subclasses build ``data_list``).

    Args:
        depth_scale (float): metres per stored unit. missing_value: stored value meaning "no data".
        min_depth / max_depth (float): the ``depth_valid`` range ``(min, max]`` in metres.
        load_image / load_depth (bool): read the files when an item is fetched (else paths only).
        channel_order (str): ``'rgb'`` or ``'bgr'`` for ``img``.
    """

    def __init__(self, depth_scale: float, missing_value: Optional[float], min_depth: float = 0.0,
                 max_depth: Optional[float] = 10.0, load_image: bool = True, load_depth: bool = True,
                 channel_order: str = 'rgb', **kwargs):
        if channel_order not in ('rgb', 'bgr'):
            raise SettingsError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
        self.depth_scale = float(depth_scale)
        self.missing_value = missing_value
        self.min_depth = float(min_depth)
        self.max_depth = None if max_depth is None else float(max_depth)
        self.load_image = load_image
        self.load_depth = load_depth
        self.channel_order = channel_order
        kwargs.setdefault('data_prefix', dict())
        super().__init__(**kwargs)

    def read_depth(self, path: str) -> np.ndarray:
        """Depth file -> ``(H, W)`` float32 metres (0 = no data)."""
        return read_pano_depth(path, self.depth_scale, self.missing_value)

    def valid_mask(self, depth: np.ndarray) -> np.ndarray:
        valid = depth > self.min_depth
        if self.max_depth is not None:
            valid &= depth <= self.max_depth
        return valid

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        roll = 0
        if self.load_image:
            import cv2
            img = cv2.imread(info['img_path'], cv2.IMREAD_COLOR)
            if img is None:
                raise DatasetError(f'{info["img_path"]}: could not read the image (missing or corrupt)')
            if self.channel_order == 'rgb':
                img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            roll = (img.shape[1] * info.get('yaw_deg', 0)) // 360
            info['img'] = np.roll(img, roll, axis=1) if roll else img
            info['img_shape'] = info['ori_shape'] = img.shape[:2]
        if self.load_depth:
            depth = self.read_depth(info['depth_path'])
            roll = (depth.shape[1] * info.get('yaw_deg', 0)) // 360
            if roll:
                depth = np.roll(depth, roll, axis=1)
            info['gt_depth'] = depth
            info['depth_valid'] = self.valid_mask(depth)
        info['erp_roll'] = int(roll)
        return info


@DATASETS.register_module()
class Stanford2D3DDataset(PanoDepthDataset):
    """Stanford2D3D panoramas in the release layout (``area_*/pano/{rgb,depth}``).

    Args:
        data_root (str): folder holding the ``area_*`` folders.
        split (str): ``'train'`` (areas 1, 2, 3, 4, 6) or ``'test'`` (area 5a, 5b), fold 1 as UniFuse and
            OmniFusion; ignored when ``areas`` is given.
        areas (list[str], optional): explicit area folders, e.g. ``['area_1']``.
        depth_scale (float): 1/512 (release); OmniFusion's loader uses 128/65535.
        max_depth (float): upper end of ``depth_valid`` (UniFuse 10 m; OmniFusion 8 m).
        **kwargs: :class:`PanoDepthDataset` and ``BaseDataset`` arguments.
    """
    SPLITS = {'train': ('area_1', 'area_2', 'area_3', 'area_4', 'area_6'), 'test': ('area_5a', 'area_5b')}

    def __init__(self, data_root: str, split: Optional[str] = 'train', areas: Optional[Sequence[str]] = None,
                 depth_scale: float = 1.0 / 512, missing_value: Optional[float] = 65535, **kwargs):
        if areas is None:
            if split not in self.SPLITS:
                raise SettingsError(f"split must be 'train' or 'test' (or give areas=), got {split!r}")
            areas = self.SPLITS[split]
        self.areas = tuple(areas)
        super().__init__(depth_scale=depth_scale, missing_value=missing_value, data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        data_list = []
        for area in self.areas:
            rgb_dir = osp.join(self.data_root, area, 'pano', 'rgb')
            depth_dir = osp.join(self.data_root, area, 'pano', 'depth')
            if not osp.isdir(rgb_dir):
                raise PanoFileNotFound(f'folder not found: {rgb_dir}')
            names = sorted(f for f in os.listdir(rgb_dir) if f.endswith('_rgb.png') and not f.startswith('.'))
            if not names:
                raise DatasetError(f'no *_rgb.png panoramas in {rgb_dir}')
            for name in names:
                depth = osp.join(depth_dir, name[:-len('_rgb.png')] + '_depth.png')
                if not osp.isfile(depth):
                    raise PanoFileNotFound(f'depth for {osp.join(rgb_dir, name)} not found: {depth}')
                data_list.append(dict(img_path=osp.join(rgb_dir, name), depth_path=depth, area=area,
                                      sample_idx=len(data_list)))
        return data_list


@DATASETS.register_module()
class PanoSplitListDataset(PanoDepthDataset):
    """RGB/depth pairs listed in a UniFuse/OmniFusion split file (see the module docstring).

    Args:
        ann_file (str): the list file (relative to ``data_root`` or absolute).
        data_root (str): root the listed paths are relative to.
        depth_format (str): ``'matterport3d'``, ``'stanford2d3d'`` or ``'3d60'`` (sets ``depth_scale`` and
            ``missing_value`` unless those are given).
        recover_rotation (bool): 3D60 yaw-in-name handling as UniFuse (read ``_0.x``, roll the panorama).
        check_files (bool): check at start-up that every listed file exists.
        **kwargs: :class:`PanoDepthDataset` and ``BaseDataset`` arguments.
    """

    def __init__(self, ann_file: str, data_root: str = '', depth_format: str = 'matterport3d',
                 depth_scale: Optional[float] = None, missing_value: Optional[float] = None,
                 recover_rotation: bool = False, check_files: bool = True, **kwargs):
        if depth_format not in DEPTH_FORMATS:
            raise SettingsError(f'depth_format must be one of {sorted(DEPTH_FORMATS)}, got {depth_format!r}')
        fmt = DEPTH_FORMATS[depth_format]
        self.depth_format = depth_format
        self.recover_rotation = recover_rotation
        self.check_files = check_files
        super().__init__(depth_scale=fmt['depth_scale'] if depth_scale is None else depth_scale,
                         missing_value=fmt['missing_value'] if missing_value is None else missing_value,
                         ann_file=ann_file, data_root=data_root, **kwargs)

    def _resolve(self, p: str) -> str:
        if osp.isabs(p) and (osp.exists(p) or not self.data_root):
            return p
        return osp.join(self.data_root, p.lstrip('/\\')) if self.data_root else p

    def _split_yaw(self, p: str):
        m = _ROT_RE.search(p)
        if not m:
            raise DatasetError(f'recover_rotation: no "_<yaw>.<frac>.<ext>" ending in {p!r}')
        return p[:m.start()] + f'_0.{m.group(2)}{m.group(3)}', int(m.group(1))

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise PanoFileNotFound(f'split list not found: {self.ann_file}')
        data_list = []
        with open(self.ann_file, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                parts = line.split()
                if not parts or parts[0].startswith('#'):
                    continue
                if len(parts) < 2:
                    raise DatasetError(f'{self.ann_file}:{lineno}: expected "<rgb> <depth>", got {line.strip()!r}')
                rgb, depth = self._resolve(parts[0]), self._resolve(parts[1])
                info = dict(sample_idx=len(data_list), list_line=lineno)
                if self.recover_rotation:
                    rgb, yaw = self._split_yaw(rgb)
                    depth, yaw_d = self._split_yaw(depth)
                    if yaw != yaw_d:
                        raise DatasetError(f'{self.ann_file}:{lineno}: rgb yaw {yaw} != depth yaw {yaw_d}')
                    info['yaw_deg'] = yaw
                if self.check_files:
                    for p in (rgb, depth):
                        if not osp.isfile(p):
                            raise PanoFileNotFound(f'{self.ann_file}:{lineno}: file not found: {p}')
                info.update(img_path=rgb, depth_path=depth)
                data_list.append(info)
        if not data_list:
            raise DatasetError(f'{self.ann_file}: no samples listed')
        return data_list
