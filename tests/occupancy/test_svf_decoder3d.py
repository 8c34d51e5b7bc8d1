"""SVF, MPAC, the 3D UNet and the occupancy head: shapes, the residual path, and parameter counts equal to
the official model's parts (fixtures/official/README.md: voxel fusion 4,873,984; 3D UNet 47,189,440;
occupancy head 3,543,828; scene position embedding 57,600)."""
import torch

from geoperc.models.occupancy.decoder3d import LearnableSqueezePositionalEncoding, UNet3D, build_occ_head
from geoperc.models.occupancy.svf import MPAC, VolumeFusion
from geoperc.models.occupancy.vpca import VoxelProposalLayer


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_official_parameter_counts():
    assert n_params(VolumeFusion(128, 128)) == 4_873_984
    assert n_params(UNet3D(128)) == 47_189_440
    assert n_params(build_occ_head(128, 20, 2, 2)) == 3_543_828
    assert n_params(LearnableSqueezePositionalEncoding((128, 128, 2), 128, (2, 2, 1))) == 57_600
    assert n_params(VoxelProposalLayer(128, vp_guided=True)) == 193_112
    assert n_params(VoxelProposalLayer(128, vp_guided=False)) == 248_840


def test_shapes_and_residual():
    x = torch.randn(2, 8, 8, 8, 4)
    m = MPAC(8)
    assert m(x).shape == x.shape
    for conv in list(m.conv_1x1xk) + list(m.conv_1xkx1) + list(m.conv_kx1x1):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    assert torch.equal(m(x), x)  # residual=True and zero paths: identity
    f = VolumeFusion(8, 8).eval()
    assert f(x, x).shape == x.shape
    assert (f(x, x) >= 0).all()  # ends with ReLU
    assert UNet3D(8).eval()(x).shape == x.shape
    assert build_occ_head(8, 5, downsample_z=2, project_scale=2).eval()(x).shape == (2, 5, 16, 16, 4 * 2 * 2)
    assert build_occ_head(8, 5, downsample_z=1, project_scale=1).eval()(x).shape == (2, 5, 8, 8, 4)


def test_gating_uses_both_volumes():
    torch.manual_seed(0)
    f = VolumeFusion(4, 4).eval()
    o, z = torch.randn(1, 4, 4, 4, 4), torch.randn(1, 4, 4, 4, 4)
    base = f(o, z)
    assert not torch.allclose(base, f(o, torch.zeros_like(z)))
    assert not torch.allclose(base, f(torch.zeros_like(o), z))


def test_position_encoding_is_a_bijection_of_the_grid():
    pe = LearnableSqueezePositionalEncoding((4, 4, 1), 8, (2, 2, 1))
    out = pe()
    assert out.shape == (1, 4 * 4 * 4, 8)
    assert len({tuple(r.tolist()) for r in out[0].detach().round(decimals=5)}) == 64
