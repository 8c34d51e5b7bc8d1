"""Datasets (one file per on-disk format) and the transforms of their pipelines.

Importing this package imports every task subpackage present (``change``, ``transforms``, and the
others as they are added), so that ``DATASETS`` / ``TRANSFORMS`` / ``DATA_SAMPLERS`` (whose
``locations`` point here) know every class on first use.
"""
import importlib
import pkgutil

from .change import (CDDDataset, ChangeListDataset, CLCDDataset, FolderChangeDataset,
                     GeoTIFFChangeDataset, GZCDDataset, LEVIRCDDataset, S2LookingDataset)
from .transforms import (LoadChangeLabel, LoadMultiDateImages, MultiDatePhotoMetricDistortion,
                         MultiDateRandomCrop, MultiDateRandomFlip, MultiDateRandomRotate,
                         MultiDateRandomRotate90, MultiDateResize, PackChangeInputs)

from .depth import PanoSplitListDataset, Stanford2D3DDataset
from .detection import DIORRDataset, DOTADataset
from .occupancy import SemanticKITTISSCDataset

for _m in pkgutil.iter_modules(__path__):
    if _m.ispkg and _m.name not in ('change', 'transforms'):
        importlib.import_module(f'{__name__}.{_m.name}')

__all__ = ['FolderChangeDataset', 'LEVIRCDDataset', 'CDDDataset', 'CLCDDataset', 'S2LookingDataset',
           'GZCDDataset', 'ChangeListDataset', 'GeoTIFFChangeDataset', 'LoadMultiDateImages',
           'LoadChangeLabel', 'MultiDateRandomCrop', 'MultiDateRandomFlip', 'MultiDateRandomRotate',
           'MultiDateRandomRotate90', 'MultiDateResize', 'MultiDatePhotoMetricDistortion',
           'PackChangeInputs', 'PanoSplitListDataset', 'Stanford2D3DDataset', 'DIORRDataset', 'DOTADataset',
           'SemanticKITTISSCDataset']
