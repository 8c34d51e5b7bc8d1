"""Rotated multi-scale deformable attention (ARS-DETR's decoder cross-attention).

Zeng et al., "ARS-DETR: Aspect Ratio-Sensitive Detection Transformer for Aerial Oriented Object
Detection" (TGRS 2024), "rotated deformable attention"; the behaviour follows the official
``httle/ARS-DETR`` ``RotatedMultiScaleDeformableAttention`` (re-written on mmcv 2.x).

Deformable DETR (Zhu et al., ICLR 2021) samples each query's value at ``reference + offset``; with a
4-d reference box ``(cx, cy, w, h)`` the offset is scaled: ``offset / num_points * (w, h) * 0.5``. The
rotated version turns that scaled offset by the reference box's angle ``a`` first::

    loc = (cx, cy) + R(a) (offset / num_points * (w, h) / 2),    R(a) = [[cos a, -sin a], [sin a, cos a]]

so the sampling pattern lies along the oriented box (with y pointing down, a positive angle turns
clockwise on screen, the le90 convention of :mod:`geoperc.ops.rotated`). For a 2-d reference point
the rotated offset is divided by the level's (W, H), as in Deformable DETR. At angle 0 this is
exactly mmcv's :class:`~mmcv.ops.MultiScaleDeformableAttention`.

Like the official code, offsets are scaled and rotated in *normalized* image coordinates: exact for
square inputs (DOTA patches 1024², DIOR-R 800²), slightly sheared on non-square ones.

The sampling itself runs mmcv's compiled ``MultiScaleDeformableAttnFunction`` for CUDA tensors and
its pure-PyTorch ``multi_scale_deformable_attn_pytorch`` (grid_sample) otherwise (CPU, or an mmcv
built without ops); the two agree to float precision.
"""
from typing import Optional

import torch
from mmcv.ops import MultiScaleDeformableAttention
from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch

from geoperc.registry import MODELS

__all__ = ['RotatedMultiScaleDeformableAttention', 'rotated_sampling_locations', 'msda_sample']


def rotated_sampling_locations(reference_points: torch.Tensor, sampling_offsets: torch.Tensor,
                               reference_angles: Optional[torch.Tensor], spatial_shapes: torch.Tensor,
                               num_points: int) -> torch.Tensor:
    """Sampling locations of (rotated) deformable attention.

    Args:
        reference_points: ``(B, Q, L, 2)`` points or ``(B, Q, L, 4)`` boxes ``(cx, cy, w, h)``,
            normalized to ``[0, 1]``.
        sampling_offsets: ``(B, Q, heads, L, P, 2)`` raw offsets (the linear layer's output).
        reference_angles: ``(B, Q, L or 1, 1)`` angles in radians, or None (no rotation).
        spatial_shapes: ``(L, 2)`` (H, W) of each level.
        num_points: P.

    Returns:
        ``(B, Q, heads, L, P, 2)`` normalized (x, y) sampling locations.
    """
    off = sampling_offsets
    if reference_points.shape[-1] == 4:
        off = off / num_points * reference_points[:, :, None, :, None, 2:] * 0.5
    elif reference_points.shape[-1] != 2:
        raise ValueError(f'reference_points must end in 2 or 4, got {tuple(reference_points.shape)}')
    if reference_angles is not None:
        a = reference_angles[:, :, None, :, None, :]  # (B, Q, 1, L|1, 1, 1)
        c, s = torch.cos(a), torch.sin(a)
        ox, oy = off[..., :1], off[..., 1:]
        off = torch.cat([ox * c - oy * s, ox * s + oy * c], dim=-1)
    if reference_points.shape[-1] == 2:
        norm = torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1).to(off.dtype)
        off = off / norm[None, None, None, :, None, :]
    return reference_points[:, :, None, :, None, :2] + off


def msda_sample(value: torch.Tensor, spatial_shapes: torch.Tensor, level_start_index: torch.Tensor,
                sampling_locations: torch.Tensor, attention_weights: torch.Tensor,
                im2col_step: int = 64, use_op: Optional[bool] = None) -> torch.Tensor:
    """Multi-scale deformable sampling: the compiled op for CUDA tensors, else the PyTorch path.

    ``use_op`` forces the choice (True raises where the op cannot run)."""
    if use_op is None:
        use_op = value.is_cuda
    if use_op:
        from mmcv.ops.multi_scale_deform_attn import MultiScaleDeformableAttnFunction
        return MultiScaleDeformableAttnFunction.apply(value, spatial_shapes, level_start_index,
                                                      sampling_locations, attention_weights, im2col_step)
    return multi_scale_deformable_attn_pytorch(value, spatial_shapes, sampling_locations, attention_weights)


@MODELS.register_module()
class RotatedMultiScaleDeformableAttention(MultiScaleDeformableAttention):
    """mmcv's multi-scale deformable attention with sampling offsets turned by ``reference_angles``.

    Same constructor, parameters and initialisation as :class:`mmcv.ops.MultiScaleDeformableAttention`
    (so its weights load unchanged); ``forward`` takes ``reference_angles`` ``(B, Q, L or 1, 1)``
    in radians (None: plain deformable attention).
    """

    def forward(self, query: torch.Tensor, key: Optional[torch.Tensor] = None,
                value: Optional[torch.Tensor] = None, identity: Optional[torch.Tensor] = None,
                query_pos: Optional[torch.Tensor] = None, key_padding_mask: Optional[torch.Tensor] = None,
                reference_points: Optional[torch.Tensor] = None, spatial_shapes: Optional[torch.Tensor] = None,
                level_start_index: Optional[torch.Tensor] = None,
                reference_angles: Optional[torch.Tensor] = None, **kwargs) -> torch.Tensor:
        if value is None:
            value = query
        if identity is None:
            identity = query
        if query_pos is not None:
            query = query + query_pos
        if not self.batch_first:
            query = query.permute(1, 0, 2)
            value = value.permute(1, 0, 2)
        bs, num_query, _ = query.shape
        _, num_value, _ = value.shape
        assert int((spatial_shapes[:, 0] * spatial_shapes[:, 1]).sum()) == num_value
        value = self.value_proj(value)
        if key_padding_mask is not None:
            value = value.masked_fill(key_padding_mask[..., None], 0.0)
        value = value.view(bs, num_value, self.num_heads, -1)
        offsets = self.sampling_offsets(query).view(bs, num_query, self.num_heads, self.num_levels,
                                                    self.num_points, 2)
        weights = self.attention_weights(query).view(bs, num_query, self.num_heads,
                                                     self.num_levels * self.num_points).softmax(-1)
        weights = weights.view(bs, num_query, self.num_heads, self.num_levels, self.num_points)
        loc = rotated_sampling_locations(reference_points, offsets, reference_angles, spatial_shapes,
                                         self.num_points)
        out = msda_sample(value, spatial_shapes, level_start_index, loc, weights, self.im2col_step)
        out = self.output_proj(out)
        if not self.batch_first:
            out = out.permute(1, 0, 2)
        return self.dropout(out) + identity
