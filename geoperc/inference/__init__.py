"""Inference over georeferenced rasters: streaming tiled inference, merging and georeferenced export."""
from .tiled import InferenceError, TiledInferencer, build_model, infer_geotiff

__all__ = ['InferenceError', 'TiledInferencer', 'build_model', 'infer_geotiff']
