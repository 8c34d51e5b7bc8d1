"""DIOR-R oriented object detection (Cheng et al., "Anchor-free Oriented Proposal Generator for Object
Detection", TGRS 2022; images from DIOR, Li et al., ISPRS 2020), release layout::

    JPEGImages-trainval/00001.jpg ... 11725.jpg
    JPEGImages-test/11726.jpg ... 23463.jpg
    Annotations/Oriented Bounding Boxes/00001.xml
    ImageSets/Main/train.txt, val.txt, test.txt      (image ids, one per line)

An annotation is a PASCAL-VOC-style XML; each object (field names checked against a released
``00001.xml`` and mmrotate's ``DIORDataset``)::

    <object>
      <type>robndbox</type>
      <name>golffield</name>            class name (lower-cased here: mixed case occurs)
      <truncated>0</truncated>
      <difficult>0</difficult>
      <robndbox>
        <x_left_top/> <y_left_top/> <x_right_top/> <y_right_top/>
        <x_right_bottom/> <y_right_bottom/> <x_left_bottom/> <y_left_bottom/>
      </robndbox>
      <angle>0</angle>                  annotation-tool angle; not used (the corners define the box)
    </object>

800 x 800 images, 20 classes. ``<size><width>/<height>`` give the image size. Items look like
:class:`~geoperc.datasets.detection.dota.DOTADataset`'s: ``instances`` with ``polygon`` (the 4 corners in
the order above), le90 ``bbox``, ``bbox_label``, ``difficulty`` and ``ignore_flag``.
"""
import os.path as osp
import xml.etree.ElementTree as ET
from typing import List, Optional

import numpy as np
from mmengine.dataset import BaseDataset

from geoperc.registry import DATASETS
from .dota import _palette, polygons_to_le90

DIOR_R_CLASSES = ('airplane', 'airport', 'baseballfield', 'basketballcourt', 'bridge', 'chimney',
                  'expressway-service-area', 'expressway-toll-station', 'dam', 'golffield', 'groundtrackfield',
                  'harbor', 'overpass', 'ship', 'stadium', 'storagetank', 'tenniscourt', 'trainstation',
                  'vehicle', 'windmill')
_CORNERS = ('x_left_top', 'y_left_top', 'x_right_top', 'y_right_top', 'x_right_bottom', 'y_right_bottom',
            'x_left_bottom', 'y_left_bottom')


def parse_dior_r_xml(path: str) -> dict:
    """Parse one DIOR-R XML -> ``dict(width, height, objects=[(polygon (8,), name, difficulty)])``."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise ValueError(f'{path}: not valid XML: {e}') from e
    size = root.find('size')
    width = height = None
    if size is not None and size.find('width') is not None:
        width, height = int(float(size.find('width').text)), int(float(size.find('height').text))
    objects = []
    for i, obj in enumerate(root.findall('object')):
        name_el = obj.find('name')
        if name_el is None or not (name_el.text or '').strip():
            raise ValueError(f'{path}: object {i} has no <name>')
        box = obj.find('robndbox')
        if box is None:
            raise ValueError(f'{path}: object {i} ({name_el.text}) has no <robndbox> (an HBB-only '
                             'annotation? use the "Oriented Bounding Boxes" folder)')
        try:
            poly = np.array([float(box.find(k).text) for k in _CORNERS], np.float64)
        except (AttributeError, TypeError, ValueError) as e:
            raise ValueError(f'{path}: object {i} robndbox needs {", ".join(_CORNERS)}') from e
        diff_el = obj.find('difficult')
        diff = int(diff_el.text) if diff_el is not None and (diff_el.text or '').strip() else 0
        objects.append((poly, name_el.text.strip().lower(), diff))
    return dict(width=width, height=height, objects=objects)


@DATASETS.register_module()
class DIORRDataset(BaseDataset):
    """DIOR-R in the release layout.

    Args:
        data_root (str): the DIOR-R folder (holding ``JPEGImages-*``, ``Annotations``, ``ImageSets``).
        split (str): ``'train'``, ``'val'``, ``'trainval'`` (``trainval.txt`` if present, else train + val)
            or ``'test'``.
        ann_file (str, optional): an explicit image-id list instead of ``split``.
        img_subdir (str, optional): default ``JPEGImages-test`` for the test split, else
            ``JPEGImages-trainval``.
        ann_subdir (str): ``'Annotations/Oriented Bounding Boxes'``.
        diff_thr (int): objects with ``difficulty > diff_thr`` get ``ignore_flag = 1`` (default 100: none).
        unknown_classes (str): ``'error'`` or ``'skip'``.
        **kwargs: the rest of MMEngine's ``BaseDataset`` arguments.
    """

    def __init__(self, data_root: str, split: Optional[str] = 'trainval', ann_file: Optional[str] = None,
                 img_subdir: Optional[str] = None, ann_subdir: str = 'Annotations/Oriented Bounding Boxes',
                 image_set_dir: str = 'ImageSets/Main', diff_thr: int = 100, unknown_classes: str = 'error',
                 metainfo: Optional[dict] = None, **kwargs):
        if split not in ('train', 'val', 'trainval', 'test') and ann_file is None:
            raise ValueError(f"split must be 'train', 'val', 'trainval' or 'test' (or give ann_file=), "
                             f'got {split!r}')
        self.split = split
        self.ann_subdir = ann_subdir
        self.image_set_dir = image_set_dir
        self.img_subdir = img_subdir or ('JPEGImages-test' if split == 'test' else 'JPEGImages-trainval')
        self.diff_thr = diff_thr
        self.unknown_classes = unknown_classes
        meta = dict(classes=DIOR_R_CLASSES, palette=_palette(len(DIOR_R_CLASSES)))
        meta.update(metainfo or {})
        kwargs.setdefault('data_prefix', dict())
        super().__init__(data_root=data_root, ann_file=ann_file or '', metainfo=meta, **kwargs)

    def _id_lists(self) -> List[str]:
        if self.ann_file:
            files = [self.ann_file]
        else:
            sets = osp.join(self.data_root, self.image_set_dir)
            one = osp.join(sets, f'{self.split}.txt')
            if self.split == 'trainval' and not osp.isfile(one):
                files = [osp.join(sets, 'train.txt'), osp.join(sets, 'val.txt')]
            else:
                files = [one]
        ids = []
        for f in files:
            if not osp.isfile(f):
                raise FileNotFoundError(f'image set not found: {f}')
            with open(f, encoding='utf-8') as fh:
                ids += [ln.strip() for ln in fh if ln.strip() and not ln.startswith('#')]
        if not ids:
            raise ValueError(f'no image ids in {files}')
        return ids

    def load_data_list(self) -> List[dict]:
        cls_map = {c: i for i, c in enumerate(self.metainfo['classes'])}
        img_dir = osp.join(self.data_root, self.img_subdir)
        ann_dir = osp.join(self.data_root, self.ann_subdir)
        data_list = []
        for img_id in self._id_lists():
            img = osp.join(img_dir, img_id + '.jpg')
            xml = osp.join(ann_dir, img_id + '.xml')
            if not osp.isfile(img):
                raise FileNotFoundError(f'image {img_id} not found: {img}')
            instances, width, height = [], None, None
            if osp.isfile(xml):
                ann = parse_dior_r_xml(xml)
                width, height = ann['width'], ann['height']
                polys, labels, diffs = [], [], []
                for poly, name, diff in ann['objects']:
                    if name not in cls_map:
                        if self.unknown_classes == 'skip':
                            continue
                        raise ValueError(f'{xml}: class {name!r} is not a DIOR-R class')
                    polys.append(poly)
                    labels.append(cls_map[name])
                    diffs.append(diff)
                boxes = polygons_to_le90(np.array(polys).reshape(-1, 8))
                instances = [dict(bbox=boxes[i].tolist(), polygon=polys[i].astype(np.float32).tolist(),
                                  bbox_label=labels[i], difficulty=diffs[i],
                                  ignore_flag=int(diffs[i] > self.diff_thr)) for i in range(len(polys))]
            elif not self.test_mode:
                raise FileNotFoundError(f'annotation for {img_id} not found: {xml}')
            info = dict(img_path=img, img_id=img_id, ann_path=xml if osp.isfile(xml) else None,
                        instances=instances, sample_idx=len(data_list))
            if width is not None:
                info.update(width=width, height=height)
            data_list.append(info)
        return data_list
