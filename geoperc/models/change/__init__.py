from .base import BaseChangeDetector
from .fsgnet import FSGNet
from .lenet import LENet

__all__ = ['BaseChangeDetector', 'FSGNet', 'LENet']
