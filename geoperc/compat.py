"""The one place where geoperc works around stale third-party packages. Never edit site-packages.

mmrotate 1.0.0rc1 (the only mmrotate 1.x on PyPI) cannot be imported as published on this matrix:

1. ``mmrotate/models/detectors/refine_single_stage.py`` does ``from collections import Sequence``,
   removed in Python 3.10. We alias ``collections.Sequence`` to ``collections.abc.Sequence``.
2. ``mmrotate/__init__.py`` asserts ``mmdet < 3.1.0`` while its code runs on mmdet 3.2.0 (measured:
   Oriented R-CNN le90 trains and predicts, ``DOTAMetric`` computes mAP). We present an acceptable
   ``mmdet.__version__`` only while ``mmrotate/__init__`` runs, then restore the real one.

Call :func:`import_mmrotate` instead of ``import mmrotate``.
"""
import collections
import collections.abc
import importlib
import sys

_MMDET_VERSION_SEEN_BY_MMROTATE = '3.0.0'


def import_mmrotate():
    """Import and return ``mmrotate`` with the two workarounds above applied."""
    if 'mmrotate' in sys.modules:
        return sys.modules['mmrotate']
    if not hasattr(collections, 'Sequence'):
        collections.Sequence = collections.abc.Sequence
    import mmdet
    real = mmdet.__version__
    mmdet.__version__ = _MMDET_VERSION_SEEN_BY_MMROTATE
    try:
        mmrotate = importlib.import_module('mmrotate')
    finally:
        mmdet.__version__ = real
    return mmrotate
