"""Backbones shared by geoperc models, and local pretrained-weight loading."""
from .pretrained import adapt_input_conv, load_pretrained
from .timm_swinv2 import TimmSwinV2

__all__ = ['TimmSwinV2', 'adapt_input_conv', 'load_pretrained']
