"""Semantic occupancy (semantic scene completion) models: VPOcc."""
from .vpocc import VPOcc, VPOccDecoder
from .encoder import VPOccImageEncoder

__all__ = ['VPOcc', 'VPOccDecoder', 'VPOccImageEncoder']
