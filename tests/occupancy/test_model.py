"""The VPOcc model end to end at a tiny size: shapes, loss keys, batch > 1 equal to single samples, the depth
proposal and projection geometry, the contract metadata, and the full-size parameter count."""
import numpy as np
import pytest
import torch

from geoperc.models.base import OUTPUT_KINDS
from geoperc.models.occupancy.vpocc import depth_to_voxels, voxel_projections

from _vpocc_tiny import K, TR, tiny_batch, tiny_model


def test_forward_loss_predict():
    torch.manual_seed(0)
    m = tiny_model()
    x, samples = tiny_batch(2)
    logits = m(x, samples, mode='tensor')
    assert logits.shape == (2, 5, 32, 32, 8)
    losses = m(x, samples, mode='loss')
    assert set(losses) == {'loss_ce', 'loss_sem_scal', 'loss_geo_scal'}
    sum(losses.values()).backward()
    assert m.decoder.voxel_proposal.attn.attn.attention_weights.weight.grad is not None
    assert m.encoder.out_projs[0][0].weight.grad.abs().sum() > 0
    m.eval()
    with torch.no_grad():
        out = m(x, samples, mode='predict')
    assert out[0].pred_occ.data.shape == (32, 32, 8) and out[0].pred_occ.data.dtype == torch.long
    assert m.output_kind == 'voxel_labels' and 'pred_occ' in OUTPUT_KINDS[m.output_kind].fields


def test_batch_equals_single_and_no_depth_fallback():
    torch.manual_seed(0)
    m = tiny_model().eval()
    x, samples = tiny_batch(2)
    with torch.no_grad():
        both = m(x, samples, mode='tensor')
        for i in range(2):
            one = m(x[i:i + 1], samples[i:i + 1], mode='tensor')
            assert torch.allclose(both[i:i + 1], one, atol=1e-4)
        x2, s2 = tiny_batch(1, with_depth=False)
        assert m(x2, s2, mode='tensor').shape == (1, 5, 32, 32, 8)


def test_missing_metainfo_named():
    m = tiny_model().eval()
    x, samples = tiny_batch(1)
    from geoperc.structures import GeoDataSample
    bad = GeoDataSample(metainfo={k: v for k, v in samples[0].metainfo.items() if k != 'vanishing_point'})
    with pytest.raises(KeyError, match='vanishing_point'):
        m(x, [bad], mode='tensor')


def test_projection_and_depth_geometry():
    K_t = torch.tensor(K)[None]
    E = torch.tensor(TR)[None]
    origin = torch.tensor([[0.0, -12.8, -2.0]])
    pix, fov = voxel_projections(E, K_t, origin, 1.6, (16, 16, 4), (48, 160))
    # a voxel corner straight ahead projects near the principal point column
    idx = (10 * 16 + 8) * 4 + 1  # x = 16 m, y = 0, z = -0.4
    assert abs(pix[0, idx, 0].item() - 80.0) <= 2 and fov[0, idx]
    assert not fov[0, (0 * 16 + 0) * 4].item()  # corner at the car's flank: outside the view
    # depth of a flat wall 10 m ahead -> proposed voxels all at x index 10 / 1.6 - 0.5 -> 5
    depth = torch.full((1, 48, 160), 10.0)
    mask = depth_to_voxels(depth, K_t, E, origin, 1.6, (16, 16, 4)).reshape(16, 16, 4)
    xs = torch.nonzero(mask)[:, 0]
    assert mask.any() and set(xs.tolist()) <= {5, 6}
    assert not depth_to_voxels(torch.zeros(1, 48, 160), K_t, E, origin, 1.6, (16, 16, 4)).any()


@pytest.mark.slow
def test_full_size_parameter_count():
    from geoperc.models.occupancy import VPOcc
    m = VPOcc()
    n = sum(p.numel() for p in m.parameters())
    assert n == 110_596_468  # the official model (fixtures/official/README.md)
