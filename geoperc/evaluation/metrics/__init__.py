from .change_metric import ChangeMetric
from .depth_metric import DepthMetric
from .rotated_map_metric import RotatedMAPMetric
from .ssc_metric import SSCMetric

__all__ = ['ChangeMetric']
__all__ += ['SSCMetric', 'DepthMetric', 'RotatedMAPMetric']
