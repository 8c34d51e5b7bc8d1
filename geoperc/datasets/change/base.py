"""Folder-layout change-detection datasets: ``<split>/<date A dir>``, ``<split>/<date B dir>``,
``<split>/<label dir>`` holding files of the same name.

Every public release below is such a layout with its own folder names; a subclass only sets
``FOLDERS`` (and suffixes). A dataset is configured in one of two ways:

* ``data_root`` + ``split`` (``'train'`` / ``'val'`` / ``'test'``): the class's folder names are used;
* ``data_root`` + ``data_prefix=dict(img_a=..., img_b=..., seg_map=...)``: explicit folders, relative
  to ``data_root`` (MMEngine semantics), for copies organised differently.

Each item is ``dict(img_path=[A, B], seg_map_path=label, label_encoding=..., sample_idx=i)``. A missing
folder, a file present in one folder and missing in another, or an empty split raise an error that names
the path.

Label encoding (``label_encoding``, :mod:`geoperc.datasets.change.labels`): the releases store change as
255 (``'0255'``, the default of every release class); ``'01'`` reads 0 / 1 labels (255 not scored);
``'auto'`` decides from a sample of the labels. At construction the first ``check_labels`` labels are
read and checked against the encoding, so a 0/255 set read as ``'01'`` (every change pixel ignored) or a
0/1 set read as ``'0255'`` fails at once, naming a file, instead of being scored wrong.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset

from geoperc.registry import DATASETS
from . import labels as label_codes

CHANGE_METAINFO = dict(classes=('unchanged', 'changed'), palette=[[0, 0, 0], [255, 255, 255]])


def list_files(folder: str, suffixes: Sequence[str]) -> List[str]:
    """Sorted file names in ``folder`` with one of ``suffixes`` (case-insensitive); error if the folder
    does not exist."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'folder not found: {folder}')
    sfx = tuple(s.lower() for s in suffixes)
    return sorted(f for f in os.listdir(folder) if f.lower().endswith(sfx) and not f.startswith('.'))


def stem(name: str) -> str:
    return osp.splitext(name)[0]


def match_by_stem(folders: Dict[str, str], suffixes: Dict[str, Sequence[str]]) -> List[Dict[str, str]]:
    """Pair files across folders by stem. ``folders``: ``{key: dir}``, the first key leads.

    Returns one ``{key: path}`` per stem; raises ``ValueError`` naming the folders and up to 5
    unmatched names if the folders do not hold the same stems, or if a folder is empty.
    """
    names = {k: list_files(d, suffixes[k]) for k, d in folders.items()}
    by_stem = {}
    for k, files in names.items():
        m = {}
        for f in files:
            s = stem(f)
            if s in m:
                raise ValueError(f'{folders[k]}: two files share the name {s!r}: {m[s]} and {f}')
            m[s] = f
        by_stem[k] = m
    lead = next(iter(folders))
    if not by_stem[lead]:
        raise ValueError(f'no {"/".join(suffixes[lead])} files in {folders[lead]}')
    ref = set(by_stem[lead])
    for k, m in by_stem.items():
        if set(m) != ref:
            missing = sorted(ref - set(m))[:5]
            extra = sorted(set(m) - ref)[:5]
            raise ValueError(f'{folders[k]} does not match {folders[lead]}: '
                             f'missing {missing} extra {extra} (A/B/label names must agree)')
    return [{k: osp.join(folders[k], by_stem[k][s]) for k in folders} for s in sorted(ref)]


@DATASETS.register_module()
class FolderChangeDataset(BaseDataset):
    """Bi-temporal change dataset in a folder layout (see the module docstring).

    Args:
        data_root (str): dataset root (the folder holding ``train/``, ``val/``, ``test/``).
        split (str, optional): split folder; with the class's ``FOLDERS`` builds ``data_prefix``.
        data_prefix (dict, optional): ``img_a``, ``img_b``, ``seg_map`` folders relative to
            ``data_root`` (overrides ``split``). ``seg_map`` may be omitted for unlabelled data.
        folders (tuple, optional): override the class's ``FOLDERS`` (A, B, label) names.
        label_encoding (str): ``'0255'`` (default: the release encoding), ``'01'`` or ``'auto'``; see the
            module docstring. Carried by every sample for ``LoadChangeLabel``.
        check_labels (int): labels read at construction to check (or, for ``'auto'``, decide) the
            encoding; 0 disables the check. JPEG labels (CDD) are not value-checked.
        img_suffix (str | tuple): image suffix(es). seg_map_suffix (str | tuple): label suffix(es).
        metainfo (dict, optional): defaults to classes ``('unchanged', 'changed')``.
        pipeline (list): transforms (e.g. ``LoadMultiDateImages``, ``LoadChangeLabel``, ...,
            ``PackChangeInputs``).
        **kwargs: the rest of MMEngine's ``BaseDataset`` arguments (``test_mode``, ``indices``,
            ``lazy_init``, ``serialize_data``, ...).
    """
    METAINFO = CHANGE_METAINFO
    FOLDERS: Tuple[str, str, str] = ('A', 'B', 'label')
    IMG_SUFFIX: Union[str, Tuple[str, ...]] = '.png'
    SEG_SUFFIX: Union[str, Tuple[str, ...]] = '.png'
    LABEL_ENCODING = '0255'

    def __init__(self, data_root: str = '', split: Optional[str] = None,
                 data_prefix: Optional[Dict[str, str]] = None, folders: Optional[Sequence[str]] = None,
                 img_suffix=None, seg_map_suffix=None, label_encoding: Optional[str] = None,
                 check_labels: int = 8, **kwargs):
        self.split = split
        self.label_encoding = label_codes.check_name(label_encoding or self.LABEL_ENCODING)
        self.check_labels = int(check_labels)
        self.folders = tuple(folders) if folders is not None else self.FOLDERS
        if data_prefix is None:
            if split is None:
                raise ValueError(f'{type(self).__name__}: give split= or data_prefix=')
            data_prefix = dict(img_a=osp.join(split, self.folders[0]), img_b=osp.join(split, self.folders[1]),
                               seg_map=osp.join(split, self.folders[2]))
        self.img_suffix = self._tuple(img_suffix if img_suffix is not None else self.IMG_SUFFIX)
        self.seg_map_suffix = self._tuple(seg_map_suffix if seg_map_suffix is not None else self.SEG_SUFFIX)
        super().__init__(data_root=data_root, data_prefix=dict(data_prefix), **kwargs)

    @staticmethod
    def _tuple(s) -> Tuple[str, ...]:
        return (s,) if isinstance(s, str) else tuple(s)

    def label_folders(self) -> Optional[Dict[str, str]]:
        """``{key: dir}`` of the label folder(s); several folders are united (S2Looking)."""
        seg = self.data_prefix.get('seg_map')
        return None if not seg else {'seg_map': seg}

    def load_data_list(self) -> List[dict]:
        folders = {'img_a': self.data_prefix['img_a'], 'img_b': self.data_prefix['img_b']}
        suffixes = {'img_a': self.img_suffix, 'img_b': self.img_suffix}
        labels = self.label_folders() or {}
        for k, d in labels.items():
            folders[k] = d
            suffixes[k] = self.seg_map_suffix
        data_list = []
        for i, item in enumerate(match_by_stem(folders, suffixes)):
            info = dict(img_path=[item['img_a'], item['img_b']], sample_idx=i)
            if labels:
                paths = [item[k] for k in labels]
                info['seg_map_path'] = paths[0] if len(paths) == 1 else paths
            data_list.append(info)
        encoding = resolve_label_encoding(data_list, self.label_encoding, self.check_labels)
        for info in data_list:
            info['label_encoding'] = encoding
        return data_list


def _label_values(path: str):
    from geoperc.datasets.transforms.loading import imread_unchanged, is_raster
    if is_raster(path):
        vals, nodata = label_codes.raster_label_values(path)
        return vals.tolist(), nodata
    lab = imread_unchanged(path)
    return np.unique(lab.max(axis=2) if lab.ndim == 3 else lab).tolist(), None


def resolve_label_encoding(data_list: List[dict], encoding: str, n_check: int) -> str:
    """The label encoding of a list of samples: ``encoding`` checked on (or, for ``'auto'``, decided
    from) the labels of the first ``n_check`` samples; JPEG labels are not value-checked."""
    paths = []
    for info in data_list:
        p = info.get('seg_map_path')
        if p is not None:
            paths.extend([p] if isinstance(p, str) else list(p))
    paths = [p for p in paths if not p.lower().endswith(('.jpg', '.jpeg')) and osp.isfile(p)]
    if not paths or n_check <= 0:
        return '0255' if encoding == 'auto' else encoding
    step = max(1, len(paths) // n_check)
    sample = paths[::step][:n_check]
    return label_codes.resolve(encoding, [(p, *_label_values(p)) for p in sample])
