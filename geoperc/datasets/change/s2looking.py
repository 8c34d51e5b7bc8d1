"""S2Looking (Shen et al., Remote Sensing 2021): side-looking satellite building change, 0.5-0.8 m,
1024 x 1024 px, 5000 pairs (3500 / 500 / 1000).

Release layout (what was verified, see ``data_prep/s2looking/README.md``)::

    S2Looking/{train,val,test}/Image1/<name>.png      date 1
                               Image2/<name>.png      date 2
                               label/<name>.png       all changes, 0 / 255 (read by Open-CD's config)
                               label1/<name>.png      newly built buildings   (the paper's two maps;
                               label2/<name>.png      demolished buildings     read by BIT-style loaders)

The change label is ``label/`` when present; when a copy only has ``label1/`` and ``label2/``, the
label is their union (a pixel is changed if either map marks it), which is what ``label/`` holds.
Colour label PNGs are reduced with the maximum over bands by ``LoadChangeLabel``.
"""
import os.path as osp
from typing import Dict, Optional

from geoperc.registry import DATASETS
from .base import FolderChangeDataset


@DATASETS.register_module()
class S2LookingDataset(FolderChangeDataset):
    """S2Looking in its release layout; ``label/`` or the union of ``label1/`` and ``label2/``."""
    FOLDERS = ('Image1', 'Image2', 'label')
    IMG_SUFFIX = '.png'
    SEG_SUFFIX = '.png'

    def label_folders(self) -> Optional[Dict[str, str]]:
        seg = self.data_prefix.get('seg_map')
        if not seg or osp.isdir(seg):
            return super().label_folders()
        parent = osp.dirname(osp.normpath(seg))
        l1, l2 = osp.join(parent, 'label1'), osp.join(parent, 'label2')
        if osp.isdir(l1) and osp.isdir(l2):
            return {'label1': l1, 'label2': l2}
        raise FileNotFoundError(f'label folder not found: {seg} (nor {l1} + {l2} to unite)')
