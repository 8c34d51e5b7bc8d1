"""VPCA: the VP-guided points for known geometry, the vectorised points equal the per-query loop formulation,
and the batched attention / voxel lifting equal running each sample alone."""
import pytest
import torch

from geoperc.models.occupancy.vpca import (DeformableCrossAttention, VoxelProposalLayer, VPCrossAttention,
                                           vp_sampling_points, vp_sampling_points_loop)

H, W = 370, 1220


def test_points_known_geometry():
    ref = torch.tensor([[[100.0 / W, 200.0 / H]]], dtype=torch.float64)
    vp = torch.tensor([[600.0, 200.0]], dtype=torch.float64)  # straight to the right
    pts = vp_sampling_points(ref, vp, (H, W))[0, 0] * torch.tensor([W, H], dtype=torch.float64)
    # level 0: d = min(0.5 * 500, 50) = 50; u = (1, 0), n = (0, 1)
    expect = torch.tensor([[100, 200], [150, 200], [100, 250], [50, 200], [100, 150],
                           [50, 255], [150, 155], [150, 245], [50, 145]], dtype=torch.float64)
    assert torch.allclose(pts[0], expect, atol=1e-9)
    # levels 1, 2: caps 75 and 100 px (still < 250)
    assert torch.allclose(pts[1, 1], torch.tensor([175.0, 200.0], dtype=torch.float64))
    assert torch.allclose(pts[2, 1], torch.tensor([200.0, 200.0], dtype=torch.float64))
    # near the VP the cross shrinks to half the distance; points are clamped to the image
    ref2 = torch.tensor([[[590.0 / W, 200.0 / H], [5.0 / W, 5.0 / H]]], dtype=torch.float64)
    p2 = vp_sampling_points(ref2, vp, (H, W))[0] * torch.tensor([W, H], dtype=torch.float64)
    assert torch.allclose(p2[0, 0, 1], torch.tensor([595.0, 200.0], dtype=torch.float64))
    assert (p2 >= 0).all() and (p2[..., 0] <= W).all() and (p2[..., 1] <= H).all()


def test_vectorised_equals_loop():
    g = torch.Generator().manual_seed(0)
    ref = torch.rand(2, 40, 2, generator=g, dtype=torch.float64)
    vp = torch.tensor([[610.0, 175.0], [300.0, 120.0]], dtype=torch.float64)
    a = vp_sampling_points(ref, vp, (H, W))
    b = vp_sampling_points_loop(ref, vp, (H, W))
    assert a.shape == (2, 40, 3, 9, 2)
    assert torch.allclose(a, b, atol=1e-5, rtol=0)


def _feats(B, C=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, C, h, w, generator=g) for h, w in ((12, 40), (6, 20), (3, 10))]


@pytest.mark.parametrize('cls', [VPCrossAttention, DeformableCrossAttention])
def test_attention_batched_equals_single(cls):
    torch.manual_seed(0)
    attn = cls(16, 4, 3, 9, dropout=0.0).eval()
    for p in attn.parameters():
        torch.nn.init.normal_(p, std=0.2)
    feats = _feats(2)
    value = torch.cat([f.flatten(2).transpose(1, 2) for f in feats], 1)
    shapes = [tuple(f.shape[-2:]) for f in feats]
    q = torch.randn(2, 30, 16)
    ref = torch.rand(2, 30, 1, 2).expand(-1, -1, 3, -1)
    vp = torch.tensor([[20.0, 5.0], [25.0, 6.0]])
    both = attn(q, value, ref, shapes, vanishing_point=vp, image_size=(12 * 4, 40 * 4))
    for i in range(2):
        one = attn(q[i:i + 1], value[i:i + 1], ref[i:i + 1], shapes, vanishing_point=vp[i:i + 1],
                   image_size=(48, 160))
        assert torch.allclose(both[i:i + 1], one, atol=1e-5)
    assert not torch.allclose(both[0], q[0])  # it attends


def test_voxel_lifting_batch_and_mask():
    torch.manual_seed(0)
    layer = VoxelProposalLayer(16, num_layers=2, num_heads=4, num_levels=3, vp_guided=True, dropout=0.0).eval()
    Q = 64
    embed = torch.randn(1, Q, 16).expand(2, -1, -1)
    pos = torch.randn(1, Q, 16).expand(2, -1, -1)
    mask = torch.zeros(2, Q, dtype=torch.bool)
    mask[0, [1, 5, 9]] = True
    mask[1, 10:30] = True
    ref = torch.rand(2, Q, 2)
    vp = torch.tensor([[80.0, 20.0], [70.0, 22.0]])
    feats = _feats(2)
    out = layer(embed, feats, pos, mask, ref, vanishing_point=vp, image_size=(48, 160))
    assert torch.equal(out[~mask], embed[~mask])  # unproposed voxels keep their embedding
    assert not torch.allclose(out[mask], embed[mask])
    for i in range(2):
        one = layer(embed[i:i + 1], [f[i:i + 1] for f in feats], pos[i:i + 1], mask[i:i + 1], ref[i:i + 1],
                    vanishing_point=vp[i:i + 1], image_size=(48, 160))
        assert torch.allclose(out[i:i + 1], one, atol=1e-5)
