"""Rotated DETR parts: CSL coder, rotated deformable attention, matcher costs, denoising queries."""
import math

import numpy as np
import pytest
import torch

from geoperc.models.detection import (CSLCoder, RotatedDnQueryGenerator, RotatedHungarianAssigner,
                                      RotatedMultiScaleDeformableAttention, aspect_ratio_weight, csl_bce_cost,
                                      fold_angle_quarter, rotated_sampling_locations, wrap_le90)


# -- CSL ------------------------------------------------------------------------------------------
def test_csl_round_trip_within_half_a_bin():
    coder = CSLCoder()  # ARS-DETR: aspect-ratio window, 180 bins
    a = torch.linspace(-math.pi / 2, math.pi / 2 - 1e-3, 721)
    k = torch.full_like(a, 3.0)
    lab = coder.encode(a, k)
    assert lab.shape == (721, 180)
    err = wrap_le90(coder.decode(lab) - a).abs()
    assert float(err.max()) <= math.radians(0.5) + 1e-6


def test_csl_aspect_ratio_window_values():
    coder = CSLCoder()
    # k = 2: a box and its 90-degree turn overlap 1/3; normalized window: (1/3 - min) / (1 - min) at +-90
    v = coder.aspect_ratio_smooth(torch.tensor([2.0, 8.0]))
    assert v.shape == (2, 180)
    assert torch.allclose(v[:, 90], torch.ones(2), atol=1e-4)       # zero offset
    assert float(v.min()) >= 0 and float(v.max()) <= 1 + 1e-6
    # a long thin box has a sharper label than a near-square one
    assert float(v[1, 80]) < float(v[0, 80])
    # monotone away from the centre within the critical angle
    assert torch.all(v[0, 90:120].diff() <= 1e-6)
    # the value at offset 90 of the unnormalized window is the exact IoU of the box with its turn: 1/3
    raw = CSLCoder(normalize=False).aspect_ratio_smooth(torch.tensor([2.0]))
    assert abs(float(raw[0, 0]) - 1 / 3) < 1e-3


def test_csl_label_is_circular():
    coder = CSLCoder(window='gaussian', radius=6)
    lab = coder.encode(torch.tensor([-math.pi / 2 + 1e-4]))  # bin 0: its neighbours wrap to bin 179
    assert lab[0, 0] == 1 and lab[0, 179] > 0.9 and lab[0, 1] > 0.9


# -- rotated deformable attention -----------------------------------------------------------------
def _msda_inputs(B=2, Q=5, C=32, heads=4, levels=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = torch.tensor([[8, 8], [4, 4]])
    starts = torch.tensor([0, 64])
    value = torch.randn(B, 80, C, generator=g)
    query = torch.randn(B, Q, C, generator=g)
    ref = torch.cat([torch.rand(B, Q, 1, 2, generator=g) * 0.6 + 0.2,
                     torch.rand(B, Q, 1, 2, generator=g) * 0.2 + 0.1], -1).expand(-1, -1, levels, -1)
    return query, value, ref, shapes, starts


@pytest.mark.parametrize('refdim', [2, 4])
def test_rotated_attention_equals_mmcv_at_angle_zero(refdim):
    from mmcv.ops import MultiScaleDeformableAttention
    torch.manual_seed(0)
    rot = RotatedMultiScaleDeformableAttention(embed_dims=32, num_heads=4, num_levels=2, num_points=3,
                                               batch_first=True, dropout=0.0)
    plain = MultiScaleDeformableAttention(embed_dims=32, num_heads=4, num_levels=2, num_points=3,
                                          batch_first=True, dropout=0.0)
    plain.load_state_dict(rot.state_dict())
    with torch.no_grad():  # non-trivial offsets and weights
        for p in list(rot.sampling_offsets.parameters()) + list(rot.attention_weights.parameters()):
            p.normal_(0, 0.5)
        plain.load_state_dict(rot.state_dict())
    q, v, ref, shapes, starts = _msda_inputs()
    ref = ref[..., :refdim].contiguous()
    zero = torch.zeros(2, 5, 2, 1)
    a = rot(q, value=v, reference_points=ref, spatial_shapes=shapes, level_start_index=starts, reference_angles=zero)
    b = plain(q, value=v, reference_points=ref, spatial_shapes=shapes, level_start_index=starts)
    assert torch.allclose(a, b, atol=1e-5)
    c = rot(q, value=v, reference_points=ref, spatial_shapes=shapes, level_start_index=starts,
            reference_angles=zero + 0.7)
    assert not torch.allclose(a, c, atol=1e-4)  # the angle changes where it samples


def test_sampling_points_turn_with_the_box():
    # one head, one level, one point, offset (1, 0): along the box's width axis
    ref = torch.tensor([[[[0.5, 0.5, 0.4, 0.1]]]])           # (B, Q, L, 4)
    off = torch.tensor([1.0, 0.0]).view(1, 1, 1, 1, 1, 2)
    shapes = torch.tensor([[16, 16]])
    for ang in (0.0, math.pi / 6, -math.pi / 3):
        loc = rotated_sampling_locations(ref, off, torch.full((1, 1, 1, 1), ang), shapes, num_points=1)
        # offset / P * w / 2 = 0.2 along (cos a, sin a) (y down: positive angles turn clockwise on screen)
        expect = torch.tensor([0.5 + 0.2 * math.cos(ang), 0.5 + 0.2 * math.sin(ang)])
        assert torch.allclose(loc.reshape(2), expect, atol=1e-6)
    # the (0, 1) offset goes along the height axis, scaled by h
    loc = rotated_sampling_locations(ref, torch.tensor([0.0, 1.0]).view(1, 1, 1, 1, 1, 2),
                                     torch.full((1, 1, 1, 1), math.pi / 2 - 1e-7), shapes, num_points=1)
    assert torch.allclose(loc.reshape(2), torch.tensor([0.5 - 0.05, 0.5]), atol=1e-5)


def test_fold_angle_quarter_keeps_the_rectangle():
    from geoperc.ops.rotated import rbox_to_polygons
    boxes = torch.tensor([[10., 20, 8, 3], [5, 5, 6, 2], [0, 0, 4, 1]])
    ang = torch.tensor([1.2, -1.0, 0.3])
    fb, fa = fold_angle_quarter(boxes, ang)
    assert torch.all(fa >= -math.pi / 4) and torch.all(fa < math.pi / 4)
    p0 = rbox_to_polygons(torch.cat([boxes, ang[:, None]], 1))
    p1 = rbox_to_polygons(torch.cat([fb, fa[:, None]], 1))
    for a, b in zip(p0, p1):
        assert a.symmetric_difference(b).area < 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason='the compiled op runs on CUDA tensors')
def test_op_matches_pytorch_path_on_gpu():
    from geoperc.models.detection import msda_sample
    torch.manual_seed(0)
    value = torch.randn(2, 80, 4, 8, device='cuda')
    shapes = torch.tensor([[8, 8], [4, 4]], device='cuda')
    starts = torch.tensor([0, 64], device='cuda')
    loc = torch.rand(2, 7, 4, 2, 3, 2, device='cuda')
    w = torch.rand(2, 7, 4, 2, 3, device='cuda').softmax(-1)
    a = msda_sample(value, shapes, starts, loc, w, use_op=True)
    b = msda_sample(value, shapes, starts, loc, w, use_op=False)
    assert torch.allclose(a, b, atol=1e-5)


# -- matcher -------------------------------------------------------------------------------------
def test_matcher_costs_and_assignment():
    coder = CSLCoder()
    gt = torch.tensor([[20., 30, 16, 4, 0.5], [70, 60, 10, 10, -0.2]])
    gl = torch.tensor([1, 0])
    csl = coder.encode(gt[:, 4], torch.tensor([4.0, 1.0]))
    H, W = 100, 100
    # query 2 is object 0 exactly, query 0 is object 1, query 1 is junk
    boxes = torch.tensor([[0.70, 0.60, 0.10, 0.10], [0.1, 0.9, 0.05, 0.05], [0.20, 0.30, 0.16, 0.04]])
    cls = torch.full((3, 2), -4.0)
    cls[2, 1] = 4.0
    cls[0, 0] = 4.0
    ang = torch.full((3, 180), -4.0)
    ang[2] = torch.logit(csl[0].clamp(1e-4, 1 - 1e-4))
    ang[0] = torch.logit(csl[1].clamp(1e-4, 1 - 1e-4))
    asg = RotatedHungarianAssigner()
    cost = asg.cost(cls, boxes, ang, gt, gl, csl, (H, W))
    assert cost.shape == (3, 2)
    q, g = asg.assign(cls, boxes, ang, gt, gl, csl, (H, W))
    assert dict(zip(g.tolist(), q.tolist())) == {0: 2, 1: 0}
    # the L1 part: 2 * |pred - gt|_1 on normalized cxcywh
    from mmdet.models.task_modules.assigners.match_cost import BBoxL1Cost  # noqa: F401
    a2 = RotatedHungarianAssigner(cls_weight=0, iou_weight=0, angle_weight=0)
    c2 = a2.cost(cls, boxes, ang, gt, gl, csl, (H, W))
    expect = 2 * (boxes[1] - torch.tensor([0.2, 0.3, 0.16, 0.04])).abs().sum()
    assert torch.allclose(c2[1, 0], expect, atol=1e-5)
    # angle cost: mean BCE over bins, weighted by 2k / (k + 1)
    a3 = RotatedHungarianAssigner(cls_weight=0, l1_weight=0, iou_weight=0, angle_weight=1)
    c3 = a3.cost(cls, boxes, ang, gt, gl, csl, (H, W))
    bce = torch.nn.functional.binary_cross_entropy_with_logits(ang[1], csl[0])
    assert torch.allclose(c3[1, 0], bce * 2 * 4 / 5, atol=1e-5)
    assert torch.allclose(csl_bce_cost(ang, csl)[1, 0], bce, atol=1e-5)
    assert torch.allclose(aspect_ratio_weight(torch.tensor([[16., 4], [4, 16], [3, 3]])),
                          torch.tensor([1.6, 1.6, 1.0]))


# -- denoising -------------------------------------------------------------------------------------
def test_dn_queries_layout_and_mask():
    torch.manual_seed(0)
    gen = RotatedDnQueryGenerator(num_classes=3, embed_dims=16, num_matching_queries=10, num_dn_queries=12)
    boxes = [torch.tensor([[20., 30, 16, 4, 0.5], [70, 60, 10, 10, -0.2], [50, 50, 8, 2, 1.0]]),
             torch.tensor([[40., 40, 20, 5, 0.0]])]
    labels = [torch.tensor([0, 1, 2]), torch.tensor([2])]
    dn = gen(boxes, labels, [(100, 100), (100, 100)])
    assert dn['num_groups'] == 4 and dn['max_gts'] == 3 and dn['pad_size'] == 24
    assert dn['label_query'].shape == (2, 24, 16) and dn['bbox_query'].shape == (2, 24, 4)
    m = dn['attn_mask']
    assert m.shape == (34, 34)
    assert m[24:, :24].all() and not m[24:, 24:].any()          # matching queries: no denoising ones
    assert not m[:6, :6].any() and m[:6, 6:24].all()            # group 0 sees only itself
    assert m[6:12, :6].all() and not m[6:12, 6:12].any() and m[6:12, 12:24].all()
    # positives stay within 0.4 half-size of their object; negatives of image 1 are noised more
    ref = dn['bbox_query'][0].sigmoid() * 100
    pos = ref[[0, 1, 2]]
    assert torch.all((pos[:, :2] - boxes[0][:, :2]).abs() <= boxes[0][:, 2:4] * 0.4 + 1e-3)
    # angles: relative noise, an angle of 0 stays 0
    assert torch.all(dn['angles'][1, [0, 3, 6, 9]] == 0)
    assert torch.all((dn['angles'][0, [0, 6]] - 0.5).abs() <= 0.5 * 0.02 + 1e-6)
    assert gen([torch.zeros(0, 5)], [torch.zeros(0, dtype=torch.long)], [(10, 10)]) is None
