"""Patch layout through the model's own patching, and the merge weights against the official
``pers2equi_v3`` algorithm written out densely (every patch, every corner, normalised per pixel)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from geoperc.io import equirect as eq
from geoperc.models.depth import tangent as tg


def official_pers2equi(patches, fov_deg, nrows, erp_size):
    """Dense restatement of the official merge: per patch, bilinear corner weights with corners
    clamped to the patch, weights <= 1e-5 dropped, L1 normalisation over all patches and corners."""
    B, C, N, h, w = patches.shape
    H, W = erp_size
    cols, lats = eq.OMNIFUSION_LAYOUTS[nrows]
    centres = [((j + 0.5) * 360 / n / 360 * 2 - 1) * math.pi for n in cols for j in range(n)]
    clat = [math.radians(lat) for n, lat in zip(cols, lats) for _ in range(n)]
    lat_g, lon_g = torch.meshgrid(torch.linspace(-math.pi / 2, math.pi / 2, H, dtype=torch.float64),
                                  torch.linspace(-math.pi, math.pi, W, dtype=torch.float64), indexing='ij')
    fov_x = fov_deg / 360.0 * math.pi
    num = torch.zeros(B, C, H, W, dtype=torch.float64)
    den = torch.zeros(H, W, dtype=torch.float64)
    for n in range(N):
        lo, la = centres[n], clat[n]
        cos_c = math.sin(la) * torch.sin(lat_g) + math.cos(la) * torch.cos(lat_g) * torch.cos(lon_g - lo)
        x = torch.cos(lat_g) * torch.sin(lon_g - lo) / cos_c / fov_x
        y = (math.cos(la) * torch.sin(lat_g) - math.sin(la) * torch.cos(lat_g) * torch.cos(lon_g - lo)) / cos_c / fov_x
        px, py = (x + 1) * 0.5 * w, (y + 1) * 0.5 * h
        mask = (px > 0) & (px < w) & (py > 0) & (py < h) & (cos_c > 0)
        px, py = torch.where(mask, px, 0 * px), torch.where(mask, py, 0 * py)
        x0, y0 = px.floor().long(), py.floor().long()
        x1, y1 = (x0 + 1).clamp(0, w - 1), (y0 + 1).clamp(0, h - 1)
        x0, y0 = x0.clamp(0, w - 1), y0.clamp(0, h - 1)
        p = patches[:, :, n].double()
        for (yy, xx, wt) in ((y0, x0, (x1 - px) * (y1 - py)), (y1, x0, (x1 - px) * (py - y0)),
                             (y0, x1, (px - x0) * (y1 - py)), (y1, x1, (px - x0) * (py - y0))):
            wt = wt * mask
            wt = wt * (wt > 1e-5)
            num += p[:, :, yy, xx] * wt
            den += wt
    return (num / den.clamp_min(1e-12)).float()


@pytest.mark.parametrize('patch,erp', [(16, (24, 48)), (32, (40, 96))])
def test_merge_equals_official_algorithm(patch, erp):
    torch.manual_seed(0)
    patches = torch.rand(2, 2, 18, patch, patch)
    idx, w = tg.compute_merge_weights(4, patch, erp, 80)
    ours = tg.apply_merge(patches, idx, w, erp)
    ref = official_pers2equi(patches, 80, 4, erp)
    torch.testing.assert_close(ours, ref, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize('merge', ['omnifusion', 'exact'])
@pytest.mark.parametrize('nrows', [3, 4, 6])
def test_merge_weights_sum_to_one_and_cover_the_sphere(merge, nrows):
    idx, w = tg.compute_merge_weights(nrows, 32, (32, 64), 80, merge=merge, chunk_rows=7)
    s = w.sum(1)
    covered = s > 0
    torch.testing.assert_close(s[covered], torch.ones_like(s[covered]), atol=1e-5, rtol=0)
    if nrows >= 4:  # 18 and 46 patches of "80 degrees" see the whole sphere; 10 patches do not
        assert covered.all()
    else:
        assert 0.8 < covered.float().mean() < 1
    assert (w >= 0).all() and idx.min() >= 0 and idx.max() < len(eq.tangent_centers(nrows)) * 32 * 32
    # chunking does not change the weights
    idx2, w2 = tg.compute_merge_weights(nrows, 32, (32, 64), 80, merge=merge, chunk_rows=64)
    dense = torch.zeros(32 * 64, len(eq.tangent_centers(nrows)) * 32 * 32).scatter_add_(1, idx, w)
    dense2 = torch.zeros_like(dense).scatter_add_(1, idx2, w2)
    torch.testing.assert_close(dense, dense2)


def test_exact_merge_inverts_the_sampler():
    H, W = 48, 96
    lon, lat = eq.erp_lonlat_grid(H, W, True, torch.float64)
    xyz = eq.lonlat_to_xyz(lon, lat)
    img = torch.stack([xyz[..., 0], xyz[..., 1] + xyz[..., 2]], 0)[None].float()
    patches = F.grid_sample(img, tg.sample_grid(4, 32, 80), mode='bilinear', padding_mode='border',
                            align_corners=True).view(1, 2, 18, 32, 32)
    err = {}
    for merge in ('exact', 'omnifusion'):
        back = tg.apply_merge(patches, *tg.compute_merge_weights(4, 32, (H, W), 80, merge=merge), (H, W))
        err[merge] = (back - img).abs().mean().item()
    assert err['exact'] < 1e-3
    assert err['omnifusion'] > 3 * err['exact']  # the official w-vs-(w-1) scale shows


def test_patch_centres_through_the_models_patching():
    from geoperc.models.depth import OmniFusion
    model = OmniFusion(patch_size=64, base_channels=8, encoder_depth=18, num_layers=1, num_heads=2)
    H, W = 90, 180
    lon, lat = eq.erp_lonlat_grid(H, W, True, torch.float64)
    xyz = eq.lonlat_to_xyz(lon, lat).permute(2, 0, 1)[None].float()  # ray-valued image, continuous
    patches = model.to_patches(xyz)  # (18, 3, 64, 64)
    centre_ray = patches[:, :, 31:33, 31:33].mean((2, 3))
    c = eq.tangent_centers(4)
    expect = eq.lonlat_to_xyz(c[:, 0], c[:, 1]).float()
    cos = F.cosine_similarity(centre_ray, expect, dim=1)
    assert (cos > 0.999).all()
    # the official FoV: the patch's left/right edge centres are radians(40) away on the tangent plane
    edge = F.normalize(patches[9, :, 31:33, 0].mean(1), dim=0)  # patch 9: equator row 2 (lat 22.5)
    lon_e, lat_e = eq.xyz_to_lonlat(edge.double())
    x, y, _ = eq.gnomonic_forward(lon_e, lat_e, c[9, 0].double(), c[9, 1].double())
    assert x.item() == pytest.approx(-math.radians(40), abs=0.01)
    # exact FoV convention: tan(40 deg)
    exact = OmniFusion(patch_size=64, base_channels=8, encoder_depth=18, num_layers=1, num_heads=2,
                       fov_convention='exact')
    edge = F.normalize(exact.to_patches(xyz)[9, :, 31:33, 0].mean(1), dim=0)
    lon_e, lat_e = eq.xyz_to_lonlat(edge.double())
    x, _, _ = eq.gnomonic_forward(lon_e, lat_e, c[9, 0].double(), c[9, 1].double())
    assert x.item() == pytest.approx(-math.tan(math.radians(40)), abs=0.01)
    # the geometric-embedding rays at a quarter of the patch size are unit vectors on those patches
    rays = tg.patch_xyz(4, 16, 80)
    assert rays.shape == (18, 3, 16, 16)
    torch.testing.assert_close(rays.norm(dim=1), torch.ones(18, 16, 16))
    np.testing.assert_array_less(0.9, F.cosine_similarity(rays[:, :, 7:9, 7:9].mean((2, 3)), expect, dim=1))


def test_sparse_merge_equals_gather_forward_and_backward():
    idx, w = tg.compute_merge_weights(4, 32, (24, 48), 80)
    W, Wt = tg.merge_matrices(idx, w, 18 * 32 * 32)
    torch.manual_seed(0)
    x = torch.rand(2, 3, 18, 32, 32, requires_grad=True)
    g = torch.rand(2, 3, 24, 48)
    a = tg.apply_merge(x, idx, w, (24, 48))
    (a * g).sum().backward()
    ga, x.grad = x.grad.clone(), None
    b = tg.apply_merge_sparse(x, W, Wt, (24, 48))
    (b * g).sum().backward()
    torch.testing.assert_close(b, a)
    torch.testing.assert_close(x.grad, ga)
    # the model's two merge paths agree
    from geoperc.models.depth import OmniFusion
    m = OmniFusion(patch_size=64, base_channels=8, encoder_depth=18, num_layers=1, num_heads=2).eval()
    maps = torch.rand(36, 2, 64, 64)
    sparse = m.to_erp(maps, (32, 64))
    m.sparse_merge = False
    torch.testing.assert_close(m.to_erp(maps, (32, 64)), sparse)
