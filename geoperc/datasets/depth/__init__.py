"""360-degree depth datasets (equirectangular RGB + depth), one file per on-disk format."""
from .pano import PanoDepthDataset, PanoSplitListDataset, Stanford2D3DDataset

__all__ = ['PanoDepthDataset', 'Stanford2D3DDataset', 'PanoSplitListDataset']
