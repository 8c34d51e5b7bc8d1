"""Fixtures of the inference tests; helpers live in infer_data.py."""
import pytest

from infer_data import scene_array, write_raster


@pytest.fixture
def scene(tmp_path):
    """A 3-band uint8 scene with nodata regions; returns (path, array)."""
    a = scene_array()
    return write_raster(str(tmp_path / 'scene.tif'), a), a
