"""Oriented object detection: a rotated deformable DETR in the ARS-DETR design and its parts."""
from .assigner import RotatedHungarianAssigner, aspect_ratio_weight, csl_bce_cost
from .csl import CSLCoder, wrap_le90
from .rotated_deform_attn import RotatedMultiScaleDeformableAttention, msda_sample, rotated_sampling_locations
from .rotated_detr import RotatedDETR
from .rotated_detr_head import RotatedDETRHead, regularize_le90_torch
from .rotated_detr_layers import (RotatedDeformableDetrDecoder, RotatedDeformableDetrDecoderLayer,
                                  RotatedDnQueryGenerator, fold_angle_quarter)

__all__ = ['RotatedDETR', 'RotatedDETRHead', 'RotatedDeformableDetrDecoder', 'RotatedDeformableDetrDecoderLayer',
           'RotatedDnQueryGenerator', 'RotatedMultiScaleDeformableAttention', 'RotatedHungarianAssigner',
           'CSLCoder', 'wrap_le90', 'fold_angle_quarter', 'rotated_sampling_locations', 'msda_sample',
           'csl_bce_cost', 'aspect_ratio_weight', 'regularize_le90_torch']
