from .geo_preprocessor import GeoDataPreprocessor

__all__ = ['GeoDataPreprocessor']
