"""360-degree monocular depth models (OmniFusion) and their loss, geometry and checkpoint converter."""
from .berhu import BerHuLoss, berhu_loss
from .omnifusion import OmniFusion, PatchTransformer, token_channels
from .tangent import MergeWeightCache, merge_weights

__all__ = ['OmniFusion', 'PatchTransformer', 'token_channels', 'BerHuLoss', 'berhu_loss', 'MergeWeightCache',
           'merge_weights']
