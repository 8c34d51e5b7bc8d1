"""Importing this package registers every geoperc model (the registry's ``locations``)."""
from . import change, data_preprocessors  # noqa: F401
