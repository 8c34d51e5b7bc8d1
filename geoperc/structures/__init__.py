from .geo_data_sample import GEO_META_KEYS, GeoDataSample

__all__ = ['GeoDataSample', 'GEO_META_KEYS']
