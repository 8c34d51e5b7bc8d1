"""Backbones shared by geoperc models, behind one interface (:class:`GeoBackbone`), and local
pretrained-weight loading."""
from .base import GeoBackbone, StagedGeoBackbone, check_local_checkpoint
from .pretrained import adapt_input_conv, load_pretrained
from .resnet import GeoResNet
from .timm_swinv2 import TimmSwinV2

__all__ = ['GeoBackbone', 'StagedGeoBackbone', 'GeoResNet', 'TimmSwinV2', 'adapt_input_conv', 'load_pretrained',
           'check_local_checkpoint']
