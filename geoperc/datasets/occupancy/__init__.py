"""Semantic occupancy / scene-completion datasets, one file per on-disk format."""
from .kitti360 import KITTI360SSCDataset
from .semantic_kitti import SemanticKITTISSCDataset
from .vanishing_point import estimate_vanishing_point

__all__ = ['SemanticKITTISSCDataset', 'KITTI360SSCDataset', 'estimate_vanishing_point']
