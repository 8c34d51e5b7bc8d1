"""Change-detection datasets, one file per on-disk format."""
from .base import FolderChangeDataset
from .cdd import CDDDataset
from .clcd import CLCDDataset
from .geotiff_pair import GeoTIFFChangeDataset
from .gzcd import GZCDDataset
from .levircd import LEVIRCDDataset
from .s2looking import S2LookingDataset
from .txt_list import ChangeListDataset

__all__ = ['FolderChangeDataset', 'LEVIRCDDataset', 'CDDDataset', 'CLCDDataset', 'S2LookingDataset',
           'GZCDDataset', 'ChangeListDataset', 'GeoTIFFChangeDataset']
