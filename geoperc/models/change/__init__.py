from .base import BaseChangeDetector

__all__ = ['BaseChangeDetector']
