"""VP-guided cross-attention (VPCA), the warped branch's deformable cross-attention, and the voxel
lifting layers of VPOcc.

Kim et al., "VPOcc: Exploiting Vanishing Point for 3D Semantic Occupancy Prediction", IROS 2025;
official ``ssc_pl/vpocc/layers/point_sampling.py``, ``layers/transformer.py``,
``layers/multi_scale_deform_attn.py`` and ``decoders/voxel_lifting.py`` (as read for this project).

VPCA sampling points (not learned). For a reference pixel ``r``, vanishing point ``v`` and level ``l``:
``d = min(0.5 * max(|v - r|, 1), beta * c_l)`` (beta 50, c = (1, 1.5, 2)); with ``u`` the unit vector of
angle ``atan2(v - r)`` and ``n`` its left normal ``(-u_y, u_x)``, the points are

0. ``r``;
1-4. ``p0 = r + d u``, ``p1 = r + d n``, ``p2 = r - d u``, ``p3 = r - d n`` (the rotated cross);
5. ``I0`` = (line through ``p1`` towards ``v``) x (perpendicular to ``v - p2`` through ``p2``);
6. ``I1`` = (line through ``p3`` towards ``v``) x (perpendicular to ``v - p0`` through ``p0``);
7. ``I2`` = line(``I0``, ``p1``) x line(``I1``, ``p0``);
8. ``I3`` = line(``I0``, ``p2``) x line(``I1``, ``p3``);

all clamped to ``[0, w] x [0, h]`` and normalised by ``(w, h)``; the same points for every head.

The official code builds these in Python loops over chunks of 3000 queries with a ``torch.linalg.solve``
per intersection and slope-intercept line intersections; :func:`vp_sampling_points` computes the same
points in one vectorised pass over the batch, queries and levels with Cramer's rule (identical wherever
the official formulas are defined; where two lines are parallel or vertical the official code fails or
yields inf/NaN, here a non-finite point falls back to ``r``). :func:`vp_sampling_points_loop` is the
straightforward per-query version kept as the reference for tests and the benchmark.

Attention (both branches) follows the official ``CustomMultiScaleDeformableAttention``: value
projection, per-head softmax over levels x points, bilinear sampling (``grid_sample``,
``align_corners=False``), output projection, dropout 0.1, **plus the identity** (the layer's normalised
query, a Symphonies quirk that the surrounding pre-norm layer adds on top of its own residual). VPCA has
no ``sampling_offsets``; whether the official VPCA adds ``query_pos`` before predicting the attention
weights is not visible in the released sources (only a compiled file) and is assumed here as in the
deformable branch (``add_query_pos=True``).
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['multi_scale_deformable_attn', 'vp_sampling_points', 'vp_sampling_points_loop', 'VPCrossAttention',
           'DeformableCrossAttention', 'DeformableTransformerLayer', 'VoxelProposalLayer']


def multi_scale_deformable_attn(value: torch.Tensor, spatial_shapes: Sequence[Tuple[int, int]],
                                sampling_locations: torch.Tensor, attention_weights: torch.Tensor) -> torch.Tensor:
    """Multi-scale deformable attention by ``grid_sample`` (Deformable DETR; the pure-PyTorch path the
    official code uses off-GPU).

    Args:
        value: ``(B, S, heads, Dh)``, the levels' flattened maps concatenated.
        spatial_shapes: ``[(H_l, W_l), ...]``.
        sampling_locations: ``(B, N, heads, L, P, 2)`` normalised ``(x, y)`` in [0, 1].
        attention_weights: ``(B, N, heads, L, P)``.

    Returns:
        ``(B, N, heads * Dh)``.
    """
    B, _, nh, dh = value.shape
    _, N, _, L, P, _ = sampling_locations.shape
    values = value.split([int(h) * int(w) for h, w in spatial_shapes], dim=1)
    grids = 2 * sampling_locations - 1
    sampled = []
    for lvl, (h, w) in enumerate(spatial_shapes):
        v = values[lvl].flatten(2).transpose(1, 2).reshape(B * nh, dh, int(h), int(w))
        g = grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)  # (B*nh, N, P, 2)
        sampled.append(F.grid_sample(v, g, mode='bilinear', padding_mode='zeros', align_corners=False))
    w_ = attention_weights.transpose(1, 2).reshape(B * nh, 1, N, L * P)
    out = (torch.stack(sampled, dim=-2).flatten(-2) * w_).sum(-1)  # (B*nh, dh, N)
    return out.view(B, nh * dh, N).transpose(1, 2).contiguous()


def _intersect(p1: torch.Tensor, d1: torch.Tensor, p2: torch.Tensor, d2: torch.Tensor) -> torch.Tensor:
    """Intersection of the lines ``p1 + t d1`` and ``p2 + s d2`` (Cramer's rule, any leading shape)."""
    det = d1[..., 1] * d2[..., 0] - d1[..., 0] * d2[..., 1]
    b = p2 - p1
    t = (b[..., 1] * d2[..., 0] - b[..., 0] * d2[..., 1]) / det
    return p1 + d1 * t.unsqueeze(-1)


def vp_sampling_points(ref_pix: torch.Tensor, vp: torch.Tensor, image_size: Tuple[int, int], num_levels: int = 3,
                       beta: float = 50.0, c: Sequence[float] = (1.0, 1.5, 2.0)) -> torch.Tensor:
    """VPCA sampling locations, vectorised over batch, queries and levels.

    Args:
        ref_pix: ``(B, N, 2)`` normalised ``(x, y)`` reference points (pixel / (w, h)).
        vp: ``(B, 2)`` vanishing points in pixels.
        image_size: ``(h, w)`` of the image the VP and references live in.

    Returns:
        ``(B, N, L, 9, 2)`` normalised sampling locations (point order as in the module docstring).
    """
    h, w = image_size
    size = ref_pix.new_tensor([float(w), float(h)])
    r = (ref_pix * size).unsqueeze(2)  # (B, N, 1, 2)
    v = vp.to(ref_pix).reshape(-1, 1, 1, 2)
    to_vp = v - r
    dist = torch.linalg.norm(to_vp, dim=-1, keepdim=True).clamp(min=1.0)  # (B, N, 1, 1)
    cap = ref_pix.new_tensor([beta * float(ci) for ci in c][:num_levels]).reshape(1, 1, -1, 1)
    d = torch.minimum(dist * 0.5, cap)  # (B, N, L, 1)
    ang = torch.atan2(to_vp[..., 1], to_vp[..., 0]).unsqueeze(-1)
    u = torch.cat([torch.cos(ang), torch.sin(ang)], -1)  # (B, N, 1, 2)
    n = torch.cat([-u[..., 1:], u[..., :1]], -1)
    p0, p1, p2, p3 = r + d * u, r + d * n, r - d * u, r - d * n  # (B, N, L, 2)
    perp = lambda x: torch.stack([x[..., 1], -x[..., 0]], -1)  # noqa: E731
    i0 = _intersect(p1, v - p1, p2, perp(v - p2))
    i1 = _intersect(p3, v - p3, p0, perp(v - p0))
    i2 = _intersect(i0, p1 - i0, i1, p0 - i1)
    i3 = _intersect(i0, p2 - i0, i1, p3 - i1)
    rr = r.expand_as(p0)
    pts = torch.stack([rr, p0, p1, p2, p3, i0, i1, i2, i3], dim=3)  # (B, N, L, 9, 2)
    pts = torch.where(torch.isfinite(pts), pts, rr.unsqueeze(3).expand_as(pts))
    pts = torch.minimum(torch.maximum(pts, torch.zeros_like(size)), size)
    return pts / size


def vp_sampling_points_loop(ref_pix: torch.Tensor, vp: torch.Tensor, image_size: Tuple[int, int],
                            num_levels: int = 3, beta: float = 50.0, c: Sequence[float] = (1.0, 1.5, 2.0)
                            ) -> torch.Tensor:
    """The same points as :func:`vp_sampling_points`, one query and level at a time with 2x2 solves and
    slope-intercept intersections, as the official code formulates them (the test / benchmark reference)."""
    h, w = image_size
    size = torch.tensor([float(w), float(h)], dtype=ref_pix.dtype)
    B, N, _ = ref_pix.shape
    out = torch.empty(B, N, num_levels, 9, 2, dtype=ref_pix.dtype)

    def solve(p1, d1, p2, d2):
        A = torch.stack([d1, -d2], dim=-1)
        t = torch.linalg.solve(A, (p2 - p1).unsqueeze(-1)).squeeze(-1)
        return p1 + d1 * t[0]

    def slope_cross(a1, a2, b1, b2):
        m1 = (a2[1] - a1[1]) / (a2[0] - a1[0])
        m2 = (b2[1] - b1[1]) / (b2[0] - b1[0])
        c1 = a1[1] - m1 * a1[0]
        c2 = b1[1] - m2 * b1[0]
        x = (c2 - c1) / (m1 - m2)
        return torch.stack([x, m1 * x + c1])

    for b in range(B):
        v = vp[b].to(ref_pix.dtype).cpu()
        for q in range(N):
            r = ref_pix[b, q].cpu() * size
            dist = torch.clamp(torch.linalg.norm(v - r), min=1.0)
            ang = torch.atan2(v[1] - r[1], v[0] - r[0])
            rot = torch.stack([torch.cos(-ang), -torch.sin(-ang), torch.sin(-ang), torch.cos(-ang)]).reshape(2, 2)
            for lvl in range(num_levels):
                d = torch.clamp(dist * 0.5, max=beta * float(c[lvl]))
                offs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], dtype=ref_pix.dtype) * d
                rp = offs @ rot + r  # rows: p0..p3
                i0 = solve(rp[1], v - rp[1], rp[2], torch.stack([(v - rp[2])[1], -(v - rp[2])[0]]))
                i1 = solve(rp[3], v - rp[3], rp[0], torch.stack([(v - rp[0])[1], -(v - rp[0])[0]]))
                i2 = slope_cross(i0, rp[1], i1, rp[0])
                i3 = slope_cross(i0, rp[2], i1, rp[3])
                pts = torch.stack([r, rp[0], rp[1], rp[2], rp[3], i0, i1, i2, i3])
                pts = torch.minimum(torch.maximum(pts, torch.zeros(2, dtype=pts.dtype)), size)
                out[b, q, lvl] = pts / size
    return out.to(ref_pix.device)


class VPCrossAttention(nn.Module):
    """VPCA: multi-scale cross-attention at VP-guided sampling points with learned attention weights.

    Args:
        embed_dims, num_heads, num_levels: 128, 8, 3 in VPOcc.
        num_points: must be 9 (the point construction above).
        beta, c: distance cap per level ``beta * c_l``.
        dropout: on the projected output (0.1 as the official attention).
        add_query_pos: add ``query_pos`` to the query before predicting the weights.
    """

    def __init__(self, embed_dims: int = 128, num_heads: int = 8, num_levels: int = 3, num_points: int = 9,
                 beta: float = 50.0, c: Sequence[float] = (1.0, 1.5, 2.0), dropout: float = 0.1,
                 add_query_pos: bool = True):
        super().__init__()
        if num_points != 9:
            raise ValueError(f'VPCA builds exactly 9 sampling points per level, got num_points={num_points}')
        if len(c) < num_levels:
            raise ValueError(f'c needs one factor per level ({num_levels}), got {tuple(c)}')
        self.embed_dims, self.num_heads, self.num_levels, self.num_points = embed_dims, num_heads, num_levels, 9
        self.beta, self.c = float(beta), tuple(float(x) for x in c)
        self.add_query_pos = add_query_pos
        self.attention_weights = nn.Linear(embed_dims, num_heads * num_levels * 9)
        self.value_proj = nn.Linear(embed_dims, embed_dims)
        self.output_proj = nn.Linear(embed_dims, embed_dims)
        self.dropout = nn.Dropout(dropout)
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for m in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, query: torch.Tensor, value: torch.Tensor, reference_points: torch.Tensor,
                spatial_shapes: List[Tuple[int, int]], query_pos: Optional[torch.Tensor] = None,
                vanishing_point: Optional[torch.Tensor] = None, image_size: Tuple[int, int] = None,
                sampling_locations: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``query (B, N, C)``, ``value (B, S, C)``, ``reference_points (B, N, L, 2)`` normalised,
        ``vanishing_point (B, 2)`` pixels, ``image_size (h, w)``; precomputed ``sampling_locations``
        ``(B, N, L, 9, 2)`` may be passed (they do not depend on the layer) -> ``(B, N, C)``."""
        identity = query
        if query_pos is not None and self.add_query_pos:
            query = query + query_pos
        B, N, _ = query.shape
        if sampling_locations is None:
            sampling_locations = vp_sampling_points(reference_points[:, :, 0], vanishing_point, image_size,
                                                    self.num_levels, self.beta, self.c)
        v = self.value_proj(value).view(B, value.shape[1], self.num_heads, -1)
        aw = self.attention_weights(query).view(B, N, self.num_heads, self.num_levels * 9).softmax(-1)
        aw = aw.view(B, N, self.num_heads, self.num_levels, 9)
        loc = sampling_locations.unsqueeze(2).expand(B, N, self.num_heads, self.num_levels, 9, 2)
        out = multi_scale_deformable_attn(v, spatial_shapes, loc, aw)
        return self.dropout(self.output_proj(out)) + identity


class DeformableCrossAttention(nn.Module):
    """Multi-scale deformable cross-attention with learned offsets (Deformable DETR / mmcv
    ``MultiScaleDeformableAttention`` parameterisation: offsets normalised by each level's ``(W, H)``)."""

    def __init__(self, embed_dims: int = 128, num_heads: int = 8, num_levels: int = 3, num_points: int = 9,
                 dropout: float = 0.1):
        super().__init__()
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.num_levels, self.num_points = num_levels, num_points
        self.sampling_offsets = nn.Linear(embed_dims, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(embed_dims, num_heads * num_levels * num_points)
        self.value_proj = nn.Linear(embed_dims, embed_dims)
        self.output_proj = nn.Linear(embed_dims, embed_dims)
        self.dropout = nn.Dropout(dropout)
        self.init_weights()

    def init_weights(self):
        nn.init.zeros_(self.sampling_offsets.weight)
        thetas = torch.arange(self.num_heads, dtype=torch.float32) * (2.0 * math.pi / self.num_heads)
        grid = torch.stack([thetas.cos(), thetas.sin()], -1)
        grid = (grid / grid.abs().max(-1, keepdim=True)[0]).view(self.num_heads, 1, 1, 2)
        grid = grid.repeat(1, self.num_levels, self.num_points, 1)
        for i in range(self.num_points):
            grid[:, :, i, :] *= i + 1
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.view(-1))
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for m in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, query: torch.Tensor, value: torch.Tensor, reference_points: torch.Tensor,
                spatial_shapes: List[Tuple[int, int]], query_pos: Optional[torch.Tensor] = None, **kwargs
                ) -> torch.Tensor:
        identity = query
        if query_pos is not None:
            query = query + query_pos
        B, N, _ = query.shape
        v = self.value_proj(value).view(B, value.shape[1], self.num_heads, -1)
        off = self.sampling_offsets(query).view(B, N, self.num_heads, self.num_levels, self.num_points, 2)
        aw = self.attention_weights(query).view(B, N, self.num_heads, self.num_levels * self.num_points)
        aw = aw.softmax(-1).view(B, N, self.num_heads, self.num_levels, self.num_points)
        norm = query.new_tensor([[float(w), float(h)] for h, w in spatial_shapes])  # (L, 2) as (W, H)
        loc = reference_points[:, :, None, :, None, :] + off / norm[None, None, None, :, None, :]
        out = multi_scale_deformable_attn(v, spatial_shapes, loc, aw)
        return self.dropout(self.output_proj(out)) + identity


class DeformableTransformerLayer(nn.Module):
    """Pre-norm layer ``q = q + attn(LN(q)); q = q + FFN(LN(q))`` (FFN x4 with GELU), as Symphonies'."""

    def __init__(self, attn: nn.Module, embed_dims: int = 128, mlp_ratio: int = 4):
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dims)
        self.attn = attn
        self.norm2 = nn.LayerNorm(embed_dims)
        self.ffn = nn.Sequential(nn.Linear(embed_dims, embed_dims * mlp_ratio), nn.GELU(),
                                 nn.Linear(embed_dims * mlp_ratio, embed_dims))

    def forward(self, query, value, reference_points, spatial_shapes, query_pos=None, **kwargs):
        query = query + self.attn(self.norm1(query), value, reference_points, spatial_shapes,
                                  query_pos=query_pos, **kwargs)
        return query + self.ffn(self.norm2(query))


def _flatten_levels(feats: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, List[Tuple[int, int]]]:
    shapes = [tuple(int(s) for s in f.shape[-2:]) for f in feats]
    return torch.cat([f.flatten(2).transpose(1, 2) for f in feats], 1), shapes


class VoxelProposalLayer(nn.Module):
    """Depth-proposed voxel queries lifted from image features by one attention layer applied
    ``num_layers`` times (**shared weights**, as the official ``VoxelProposalLayerOrigin/Warp``).

    Only queries whose voxel holds a back-projected depth point are updated; the rest keep their
    embedding. The official code asserts batch size 1; here the proposed queries of each sample are
    gathered into a padded ``(B, N_max)`` batch (padding discarded on scatter-back), so any batch size
    works and samples do not interact.

    Args:
        vp_guided: VPCA (original image) instead of deformable attention with learned offsets (warped).
    """

    def __init__(self, embed_dims: int = 128, num_layers: int = 3, num_heads: int = 8, num_levels: int = 3,
                 num_points: int = 9, vp_guided: bool = True, dropout: float = 0.1, **attn_kwargs):
        super().__init__()
        attn_cls = VPCrossAttention if vp_guided else DeformableCrossAttention
        attn = attn_cls(embed_dims, num_heads, num_levels, num_points, dropout=dropout, **attn_kwargs)
        self.attn = DeformableTransformerLayer(attn, embed_dims)
        self.num_layers = num_layers
        self.vp_guided = vp_guided

    def forward(self, scene_embed: torch.Tensor, feats: Sequence[torch.Tensor], scene_pos: torch.Tensor,
                pts_mask: torch.Tensor, ref_pix: torch.Tensor, vanishing_point: Optional[torch.Tensor] = None,
                image_size: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        """``scene_embed (B, Q, C)``, ``scene_pos (B, Q, C)``, ``pts_mask (B, Q)`` bool, ``ref_pix (B, Q, 2)``
        normalised -> updated ``(B, Q, C)``."""
        B, Q, C = scene_embed.shape
        counts = pts_mask.sum(1)
        n_max = int(counts.max()) if B else 0
        if n_max == 0:
            return scene_embed
        # indices of the proposed queries, each sample padded with its own first index (or 0)
        order = torch.argsort((~pts_mask).to(torch.int8), dim=1, stable=True)[:, :n_max]  # selected first
        valid = torch.arange(n_max, device=pts_mask.device)[None] < counts[:, None]
        idx = torch.where(valid, order, order[:, :1])
        gather = lambda t: t.gather(1, idx[..., None].expand(-1, -1, t.shape[-1]))  # noqa: E731
        q = gather(scene_embed)
        pos = gather(scene_pos) if scene_pos is not None else None
        ref = gather(ref_pix).unsqueeze(2).expand(-1, -1, len(feats), -1)
        value, shapes = _flatten_levels(feats)
        extra = {}
        if self.vp_guided:
            extra['vanishing_point'] = vanishing_point
            extra['image_size'] = image_size
            a = self.attn.attn
            extra['sampling_locations'] = vp_sampling_points(ref[:, :, 0], vanishing_point, image_size,
                                                             a.num_levels, a.beta, a.c)
        for _ in range(self.num_layers):
            q = self.attn(q, value, ref, shapes, query_pos=pos, **extra)
        flat = (idx + torch.arange(B, device=idx.device)[:, None] * Q)[valid]
        out = scene_embed.reshape(B * Q, C).clone()
        out[flat] = q[valid]
        return out.view(B, Q, C)
