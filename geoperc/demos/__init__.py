"""One demo per model family, each on data it generates (no downloads); ``geoperc demo --task T``.

Each module has ``main(argv) -> int`` that takes ``--out DIR``, prints progress, and ends by printing
where every output is. Add a family by adding a module here and a line to :data:`TASKS`.
"""
TASKS = {
    'change': 'geoperc.demos.change',        # FSG-Net on a generated bi-temporal GeoTIFF scene (default)
    'detection': 'geoperc.demos.detection',  # rotated DETR on generated DOTA-format patches / GeoTIFF
    'mutdet': 'geoperc.demos.mutdet',        # MutDet pre-training chain on generated images
    'occupancy': 'geoperc.demos.occupancy',  # VPOcc on a generated SemanticKITTI-format sequence
    'depth': 'geoperc.demos.depth',          # OmniFusion on generated equirectangular panoramas
}
