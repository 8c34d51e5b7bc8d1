"""Importing this package registers every geoperc model (the registry's ``locations``)."""
from . import change, data_preprocessors  # noqa: F401
from . import depth  # noqa: F401,E402
from . import occupancy  # noqa: F401
from . import detection  # noqa: F401,E402
from .detection import convert_mutdet, mutdet, mutdet_data  # noqa: F401,E402  (MutDet pre-training)
