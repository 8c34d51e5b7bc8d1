from .confusion import (confusion_matrix, metrics_from_confusion, binary_metrics_from_confusion)
from .depth import (DEPTH_METRIC_KEYS, DEPTH_PROTOCOLS, DepthProtocol, aggregate_depth_errors, depth_errors,
                    get_depth_protocol)
from .objects import match_polygons, object_metrics, pairwise_iou
from .rotated_map import average_precision, eval_rotated_map, rotated_iou, tpfp_rotated
from .ssc import ssc_confusion, ssc_metrics_from_confusion

__all__ = ['confusion_matrix', 'metrics_from_confusion', 'binary_metrics_from_confusion']
__all__ += ['ssc_confusion', 'ssc_metrics_from_confusion', 'DepthProtocol', 'DEPTH_PROTOCOLS', 'DEPTH_METRIC_KEYS',
            'get_depth_protocol', 'depth_errors', 'aggregate_depth_errors', 'rotated_iou', 'average_precision',
            'tpfp_rotated', 'eval_rotated_map', 'match_polygons', 'object_metrics', 'pairwise_iou']
