from .change_metric import ChangeMetric

__all__ = ['ChangeMetric']
