"""LEVIR-CD (Chen & Shi, Remote Sensing 2020): building change, Google Earth, 0.5 m, 1024 x 1024 px.

Release layout (``data_root`` = the folder holding the splits)::

    LEVIR-CD/{train,val,test}/{A,B,label}/<name>.png     445 / 64 / 128 pairs, labels 0 / 255

``data_prep/levircd/crop.py`` writes the same layout with 256 px crops (16 per tile), which this class
reads unchanged.
"""
from geoperc.registry import DATASETS
from .base import FolderChangeDataset


@DATASETS.register_module()
class LEVIRCDDataset(FolderChangeDataset):
    """LEVIR-CD in its release layout; read labels with ``LoadChangeLabel()`` (0 / 255 -> 0 / 1)."""
    FOLDERS = ('A', 'B', 'label')
    IMG_SUFFIX = '.png'
    SEG_SUFFIX = '.png'
