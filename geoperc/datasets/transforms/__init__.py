"""Data transforms for multi-date samples: the same random parameters for every date and the label."""
from .base import BaseTransform
from .formatting import PackChangeInputs
from .geometric import (MultiDateRandomCrop, MultiDateRandomFlip, MultiDateRandomRotate,
                        MultiDateRandomRotate90, MultiDateResize)
from .loading import LoadChangeLabel, LoadMultiDateImages
from .photometric import MultiDatePhotoMetricDistortion

__all__ = ['BaseTransform', 'LoadMultiDateImages', 'LoadChangeLabel', 'MultiDateRandomCrop',
           'MultiDateRandomFlip', 'MultiDateRandomRotate', 'MultiDateRandomRotate90', 'MultiDateResize',
           'MultiDatePhotoMetricDistortion', 'PackChangeInputs']
from .pano import (PackPanoDepthInputs, PanoRandomChannelPermute, PanoRandomFlip, PanoRandomGamma,  # noqa: E402
                   PanoRandomYawRoll, PanoResize)
__all__ += ['PanoResize', 'PanoRandomFlip', 'PanoRandomYawRoll', 'PanoRandomChannelPermute', 'PanoRandomGamma',
            'PackPanoDepthInputs']
from .occupancy import (LoadSSCDepth, LoadSSCImage, LoadSSCTarget, LoadVanishingPoint, PackSSCInputs,  # noqa: F401,E501
                        RandomFlipSSC)
from .rotated import (LoadRotatedAnnotations, LoadRotatedImage, PackRotatedDetInputs, RFilterAnnotations,  # noqa: E402
                      RPad, RRandomFlip, RRandomRotate90, RResize)
__all__ += ['LoadRotatedImage', 'LoadRotatedAnnotations', 'RResize', 'RRandomFlip', 'RRandomRotate90', 'RPad',
            'RFilterAnnotations', 'PackRotatedDetInputs']
