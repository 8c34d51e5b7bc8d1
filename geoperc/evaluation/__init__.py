"""Importing this package registers every geoperc metric."""
from . import metrics  # noqa: F401
