"""Pure-torch/numpy ops and thin wrappers around compiled ones (mmcv); compiled ops import lazily."""
from .rotated import (corners_to_rbox, grouped_nms_rotated, nms_rotated, rbox_to_corners, rbox_to_polygons,
                      regularize_le90)

__all__ = ['corners_to_rbox', 'grouped_nms_rotated', 'nms_rotated', 'rbox_to_corners', 'rbox_to_polygons',
           'regularize_le90']
