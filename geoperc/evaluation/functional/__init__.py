from .confusion import (confusion_matrix, metrics_from_confusion, binary_metrics_from_confusion)

__all__ = ['confusion_matrix', 'metrics_from_confusion', 'binary_metrics_from_confusion']
