"""A list file of ``A B label`` paths, one sample per line (LENet / OPEN-RSCD ``BaseTXTCDDataset``
style, written by its ``tools/general/write_path.py``)::

    /data/SYSU-CD/test/time1/03414.png  /data/SYSU-CD/test/time2/03414.png  /data/SYSU-CD/test/label/03414.png
    train/A/0001.png train/B/0001.png train/label/0001.png

Fields are separated by any whitespace (so paths cannot contain spaces). Relative paths are resolved
against ``data_root``; absolute paths are kept. A line with two paths is an unlabelled pair. Blank lines
and lines starting with ``#`` are skipped.
"""
import os.path as osp
from typing import List

from mmengine.dataset import BaseDataset

from geoperc.registry import DATASETS
from . import labels as label_codes
from .base import CHANGE_METAINFO, resolve_label_encoding


@DATASETS.register_module()
class ChangeListDataset(BaseDataset):
    """Pairs listed in a text file (see the module docstring).

    Args:
        ann_file (str): the list file, relative to ``data_root`` or absolute.
        data_root (str): root for relative paths in the list (and for ``ann_file``).
        check_files (bool): check at start-up that every listed file exists (default True), so a
            wrong root fails at once with the line number instead of mid-training.
        label_encoding (str): ``'auto'`` (default: decided from a sample of the labels), ``'01'`` or
            ``'0255'`` (:mod:`geoperc.datasets.change.labels`); carried by every sample.
        check_labels (int): labels read at construction to decide / check the encoding.
        **kwargs: the rest of MMEngine's ``BaseDataset`` arguments (``pipeline``, ``test_mode``, ...).
    """
    METAINFO = CHANGE_METAINFO

    def __init__(self, ann_file: str, data_root: str = '', check_files: bool = True, label_encoding: str = 'auto',
                 check_labels: int = 8, **kwargs):
        self.check_files = check_files
        self.label_encoding = label_codes.check_name(label_encoding)
        self.check_labels = int(check_labels)
        kwargs.setdefault('data_prefix', dict())
        super().__init__(ann_file=ann_file, data_root=data_root, **kwargs)

    def _resolve(self, p: str) -> str:
        return p if osp.isabs(p) or not self.data_root else osp.join(self.data_root, p)

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'list file not found: {self.ann_file}')
        data_list = []
        with open(self.ann_file, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith('#'):
                    continue
                parts = line.split()
                if len(parts) not in (2, 3):
                    raise ValueError(f'{self.ann_file}:{lineno}: expected "A B label" (or "A B"), '
                                     f'got {len(parts)} fields: {line[:200]!r}')
                paths = [self._resolve(p) for p in parts]
                if self.check_files:
                    for p in paths:
                        if not osp.isfile(p):
                            raise FileNotFoundError(f'{self.ann_file}:{lineno}: file not found: {p}')
                info = dict(img_path=paths[:2], sample_idx=len(data_list))
                if len(paths) == 3:
                    info['seg_map_path'] = paths[2]
                data_list.append(info)
        if not data_list:
            raise ValueError(f'{self.ann_file}: no samples listed')
        encoding = resolve_label_encoding(data_list, self.label_encoding, self.check_labels)
        for info in data_list:
            info['label_encoding'] = encoding
        return data_list
