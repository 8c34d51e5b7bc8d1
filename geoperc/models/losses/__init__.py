"""Losses shared by geoperc models (registered in ``geoperc.registry.MODELS``)."""
from .cross_entropy import CrossEntropyLoss
from .dice import BCEDiceLoss, DiceLoss

__all__ = ['CrossEntropyLoss', 'DiceLoss', 'BCEDiceLoss']
