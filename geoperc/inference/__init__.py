"""Inference over georeferenced rasters: streaming tiled inference, one merger per output kind, export.

``InferenceError`` lives in :mod:`geoperc.errors` and is re-exported here for compatibility.
"""
from geoperc.errors import InferenceError

from .merge import MERGERS, Merger, register_merger
from .model import build_model, model_fingerprint
from .tiled import TiledInferencer, check_georeferencing, infer_geotiff

__all__ = ['InferenceError', 'TiledInferencer', 'build_model', 'infer_geotiff', 'model_fingerprint', 'MERGERS',
           'Merger', 'register_merger', 'check_georeferencing']
