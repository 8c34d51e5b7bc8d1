"""DOTA oriented object detection (Xia et al., CVPR 2018; Ding et al., TPAMI 2021), release layout.

Layout per split (``data_root`` = e.g. ``DOTA/train``)::

    images/P0000.png
    labelTxt/P0000.txt          (absent for the test split)

A ``labelTxt`` file, as parsed by the official devkit (``CAPTAIN-WHU/DOTA_devkit``, ``dota_utils.py``
``parse_dota_poly`` and ``dota_evaluation_task1.py`` ``parse_gt``)::

    imagesource:GoogleEarth        optional header line (v1.0 has it; 'GF', 'JL1', ... also occur)
    gsd:0.146343590398             optional header line, metres/pixel or 'null'
    x1 y1 x2 y2 x3 y3 x4 y4 category difficult

Coordinates are the polygon's 4 corners in pixels (clockwise from a "top-left" corner in v1.0; floats in
v1.5/2.0), ``difficult`` is 0/1 and may be missing (-> 0); lines with fewer than 9 fields are skipped, as
the devkit does. Classes: v1.0 has 15, v1.5 adds ``container-crane``, v2.0 adds ``airport`` and
``helipad``.

Each item: ``img_path``, ``img_id``, ``ann_path``, ``imagesource``, ``gsd`` (float or None) and
``instances``, each with ``polygon`` (8 floats as released), ``bbox`` (``cx, cy, w, h, angle``: the
minimum-area rectangle of the polygon in the le90 convention of :mod:`geoperc.ops.rotated`),
``bbox_label``, ``difficulty`` and ``ignore_flag`` (``difficulty > diff_thr``). The DOTA devkit's
evaluation ignores difficult objects (``diff_thr=0``); mmrotate 1.x's ``DOTADataset`` keeps them
(``diff_thr=100``, its default, also ours). The metric can ignore difficult objects on its own
(:class:`geoperc.evaluation.metrics.RotatedMAPMetric`).
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dataset import BaseDataset

from geoperc.ops.rotated import corners_to_rbox
from geoperc.registry import DATASETS

DOTA_V1_CLASSES = ('plane', 'baseball-diamond', 'bridge', 'ground-track-field', 'small-vehicle',
                   'large-vehicle', 'ship', 'tennis-court', 'basketball-court', 'storage-tank',
                   'soccer-ball-field', 'roundabout', 'harbor', 'swimming-pool', 'helicopter')
DOTA_V15_CLASSES = DOTA_V1_CLASSES + ('container-crane',)
DOTA_V2_CLASSES = DOTA_V15_CLASSES + ('airport', 'helipad')
DOTA_CLASSES = {'1.0': DOTA_V1_CLASSES, '1.5': DOTA_V15_CLASSES, '2.0': DOTA_V2_CLASSES}


def _palette(n: int) -> List[Tuple[int, int, int]]:
    rng = np.random.default_rng(12345)
    return [tuple(int(c) for c in rng.integers(40, 256, 3)) for _ in range(n)]


def parse_dota_txt(path: str) -> dict:
    """Parse one ``labelTxt`` file -> ``dict(imagesource, gsd, objects=[(polygon (8,), name, difficulty)])``."""
    out = dict(imagesource=None, gsd=None, objects=[])
    with open(path, encoding='utf-8-sig') as f:
        for lineno, line in enumerate(f, 1):
            s = line.strip()
            if not s:
                continue
            low = s.lower()
            if low.startswith('imagesource:'):
                out['imagesource'] = s.split(':', 1)[1].strip() or None
                continue
            if low.startswith('gsd:'):
                v = s.split(':', 1)[1].strip()
                try:
                    out['gsd'] = float(v)
                except ValueError:
                    out['gsd'] = None  # 'null' / 'None' in some releases
                continue
            parts = s.split()
            if len(parts) < 9:
                continue  # devkit: lines with fewer than 9 fields are not objects
            try:
                poly = np.array([float(v) for v in parts[:8]], np.float64)
            except ValueError as e:
                raise ValueError(f'{path}:{lineno}: 8 coordinates expected, got {parts[:8]}') from e
            diff = int(parts[9]) if len(parts) >= 10 else 0
            out['objects'].append((poly, parts[8], diff))
    return out


def polygons_to_le90(polygons: np.ndarray) -> np.ndarray:
    """``(N, 8)`` polygons -> ``(N, 5)`` le90 boxes (minimum-area rectangles), float32."""
    polys = np.asarray(polygons, np.float64).reshape(-1, 8)
    if not len(polys):
        return np.zeros((0, 5), np.float32)
    return corners_to_rbox(polys.reshape(-1, 4, 2)).astype(np.float32)


@DATASETS.register_module()
class DOTADataset(BaseDataset):
    """DOTA v1.0 / v1.5 / v2.0 in the release layout (see the module docstring).

    Args:
        data_root (str): the split folder holding ``images/`` and ``labelTxt/``.
        data_prefix (dict): ``img`` and ``ann`` folders relative to ``data_root``; ``ann=None`` (or a
            missing ``labelTxt``) for unlabelled test images.
        version (str): ``'1.0'``, ``'1.5'`` or ``'2.0'`` (the class list).
        diff_thr (int): objects with ``difficulty > diff_thr`` get ``ignore_flag = 1`` (default 100: none).
        img_suffix (tuple): image suffixes looked for.
        unknown_classes (str): ``'error'`` or ``'skip'`` objects whose class is not in the list.
        filter_empty_gt (bool): drop images without objects (not in ``test_mode``).
        **kwargs: the rest of MMEngine's ``BaseDataset`` arguments.
    """

    def __init__(self, data_root: str = '', data_prefix: Optional[Dict[str, Optional[str]]] = None,
                 version: str = '1.0', diff_thr: int = 100,
                 img_suffix: Sequence[str] = ('.png', '.jpg', '.tif', '.bmp'), unknown_classes: str = 'error',
                 filter_empty_gt: bool = False, metainfo: Optional[dict] = None, **kwargs):
        if version not in DOTA_CLASSES:
            raise ValueError(f'version must be one of {sorted(DOTA_CLASSES)}, got {version!r}')
        if unknown_classes not in ('error', 'skip'):
            raise ValueError(f"unknown_classes must be 'error' or 'skip', got {unknown_classes!r}")
        self.version = version
        self.diff_thr = diff_thr
        self.img_suffix = tuple(s.lower() for s in img_suffix)
        self.unknown_classes = unknown_classes
        self.filter_empty_gt = filter_empty_gt
        classes = DOTA_CLASSES[version]
        meta = dict(classes=classes, palette=_palette(len(classes)))
        meta.update(metainfo or {})
        prefix = dict(img='images', ann='labelTxt')
        prefix.update(data_prefix or {})
        self._ann_prefix = prefix.pop('ann')
        super().__init__(data_root=data_root, data_prefix=prefix, metainfo=meta, **kwargs)

    def _images(self) -> Dict[str, str]:
        d = self.data_prefix['img']
        if not osp.isdir(d):
            raise FileNotFoundError(f'image folder not found: {d}')
        out = {}
        for f in sorted(os.listdir(d)):
            stem, ext = osp.splitext(f)
            if ext.lower() in self.img_suffix and not f.startswith('.'):
                out.setdefault(stem, osp.join(d, f))
        return out

    def load_data_list(self) -> List[dict]:
        images = self._images()
        ann_dir = None
        if self._ann_prefix:
            ann_dir = self._ann_prefix if osp.isabs(self._ann_prefix) else osp.join(self.data_root,
                                                                                    self._ann_prefix)
            if not osp.isdir(ann_dir):
                if not self.test_mode:
                    raise FileNotFoundError(f'label folder not found: {ann_dir} (data_prefix ann=None for '
                                            'unlabelled images)')
                ann_dir = None
        cls_map = {c: i for i, c in enumerate(self.metainfo['classes'])}
        data_list = []
        if ann_dir is None:
            if not images:
                raise ValueError(f'no images in {self.data_prefix["img"]}')
            for stem, path in images.items():
                data_list.append(dict(img_path=path, img_id=stem, ann_path=None, imagesource=None, gsd=None,
                                      instances=[], sample_idx=len(data_list)))
            return data_list
        txts = sorted(f for f in os.listdir(ann_dir) if f.endswith('.txt') and not f.startswith('.'))
        if not txts:
            raise ValueError(f'no .txt labels in {ann_dir}')
        for txt in txts:
            stem = osp.splitext(txt)[0]
            if stem not in images:
                raise FileNotFoundError(f'{osp.join(ann_dir, txt)}: no image {stem}{"|".join(self.img_suffix)} '
                                        f'in {self.data_prefix["img"]}')
            ann = parse_dota_txt(osp.join(ann_dir, txt))
            polys, labels, diffs = [], [], []
            for poly, name, diff in ann['objects']:
                if name not in cls_map:
                    if self.unknown_classes == 'skip':
                        continue
                    raise ValueError(f'{osp.join(ann_dir, txt)}: class {name!r} is not a DOTA v{self.version} '
                                     f'class (set version= or unknown_classes="skip")')
                polys.append(poly)
                labels.append(cls_map[name])
                diffs.append(diff)
            boxes = polygons_to_le90(np.array(polys).reshape(-1, 8))
            instances = [dict(bbox=boxes[i].tolist(), polygon=polys[i].astype(np.float32).tolist(),
                              bbox_label=labels[i], difficulty=diffs[i],
                              ignore_flag=int(diffs[i] > self.diff_thr)) for i in range(len(polys))]
            if self.filter_empty_gt and not self.test_mode and not instances:
                continue
            data_list.append(dict(img_path=images[stem], img_id=stem, ann_path=osp.join(ann_dir, txt),
                                  imagesource=ann['imagesource'], gsd=ann['gsd'], instances=instances,
                                  sample_idx=len(data_list)))
        if not data_list:
            raise ValueError(f'{ann_dir}: no image with objects left (filter_empty_gt=True)')
        return data_list
