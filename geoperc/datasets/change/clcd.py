"""CLCD, the cropland change detection dataset (Liu et al., IEEE JSTARS 2022): Gaofen-2, 0.5-2 m,
512 x 512 px.

Release layout (as read by Open-CD's ``CLCD_Dataset`` config and LENet's list files, which point at
``CLCD/<split>/time1|time2|label``)::

    CLCD/{train,val,test}/{time1,time2,label}/<name>.png     360 / 120 / 120 pairs, labels 0 / 255
"""
from geoperc.registry import DATASETS
from .base import FolderChangeDataset


@DATASETS.register_module()
class CLCDDataset(FolderChangeDataset):
    """CLCD in its release layout; read labels with ``LoadChangeLabel()`` (0 / 255 -> 0 / 1)."""
    FOLDERS = ('time1', 'time2', 'label')
    IMG_SUFFIX = '.png'
    SEG_SUFFIX = '.png'
