"""CDD, the season-varying change detection dataset (Lebedev et al., ISPRS Archives 2018).

Release layout: the archive ``ChangeDetectionDataset/`` holds ``Model/`` (synthetic) and ``Real/``;
the benchmark everyone reports is ``Real/subset``::

    ChangeDetectionDataset/Real/subset/{train,val,test}/{A,B,OUT}/<name>.jpg
        10000 / 3000 / 3000 pairs, 256 x 256 px, OUT = change mask 0 / 255 stored as JPEG

``data_root`` may point at ``ChangeDetectionDataset``, at ``Real`` or at ``Real/subset``: the class
finds the splits below any of them. Because the masks are JPEG, their values are only *near* 0 and
255: read them with ``LoadChangeLabel(threshold=128)``.
"""
import os.path as osp

from geoperc.registry import DATASETS
from .base import FolderChangeDataset


@DATASETS.register_module()
class CDDDataset(FolderChangeDataset):
    """CDD (``Real/subset``) in its release layout; see the module docstring."""
    FOLDERS = ('A', 'B', 'OUT')
    IMG_SUFFIX = ('.jpg', '.jpeg', '.png')
    SEG_SUFFIX = ('.jpg', '.jpeg', '.png')
    SUBDIRS = ('', 'subset', osp.join('Real', 'subset'))

    def _join_prefix(self):
        rel = self.data_prefix.get('img_a', '')
        if self.data_root and rel and not osp.isabs(rel):
            for sub in self.SUBDIRS:
                if osp.isdir(osp.join(self.data_root, sub, rel)):
                    self.data_root = osp.join(self.data_root, sub) if sub else self.data_root
                    break
        super()._join_prefix()
