"""geoperc: remote-sensing and 3D geospatial perception on one MMEngine runner."""
__version__ = '0.2.0'
