"""Semantic occupancy / scene-completion datasets, one file per on-disk format."""
from .semantic_kitti import SemanticKITTISSCDataset

__all__ = ['SemanticKITTISSCDataset']
