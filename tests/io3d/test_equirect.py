"""Equirectangular <-> tangent-patch geometry (OmniFusion conventions) and panorama depth files."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from geoperc.io import equirect as eq


def smooth_sphere_image(H, W, align_corners=True):
    """A 3-channel ERP image that is a smooth function of the ray, so it is continuous across the seam."""
    lon, lat = eq.erp_lonlat_grid(H, W, align_corners, torch.float64)
    xyz = eq.lonlat_to_xyz(lon, lat)
    return torch.stack([xyz[..., 0], 0.5 * xyz[..., 1] + xyz[..., 2], torch.sin(3 * xyz[..., 2])], 0)[None].float()


def test_layout_matches_official():
    c = eq.tangent_centers(4)
    assert c.shape == (18, 2)
    deg = c.numpy() * 180 / math.pi
    np.testing.assert_allclose(deg[:3], [[-120, -67.5], [0, -67.5], [120, -67.5]], atol=1e-9)
    np.testing.assert_allclose(deg[3:9, 0], [-150, -90, -30, 30, 90, 150], atol=1e-9)
    np.testing.assert_allclose(np.unique(deg[:, 1]), [-67.5, -22.5, 22.5, 67.5])
    assert [len(eq.tangent_centers(n)) for n in (3, 4, 5, 6)] == [10, 18, 26, 46]
    assert eq.tangent_half_extent(80)[0] == pytest.approx(math.radians(40))  # official: fov/2 in radians
    assert eq.tangent_half_extent(80, 'exact')[0] == pytest.approx(math.tan(math.radians(40)))
    with pytest.raises(ValueError):
        eq.tangent_centers(7)


def test_gnomonic_known_points():
    lon0, lat0 = 0.3, -0.4
    x, y, cos_c = eq.gnomonic_forward(torch.tensor([lon0]), torch.tensor([lat0]), lon0, lat0)
    assert abs(x.item()) < 1e-7 and abs(y.item()) < 1e-7 and cos_c.item() == pytest.approx(1)
    # on the equator, 45 degrees east of the centre -> x = tan 45 = 1
    x, y, _ = eq.gnomonic_forward(torch.tensor([math.pi / 4], dtype=torch.float64),
                                  torch.tensor([0.0], dtype=torch.float64), 0.0, 0.0)
    assert x.item() == pytest.approx(1.0) and y.item() == pytest.approx(0.0, abs=1e-12)
    # 30 degrees "down" (latitude grows with the row) from an equatorial centre -> y = tan 30
    x, y, _ = eq.gnomonic_forward(torch.tensor([0.0], dtype=torch.float64),
                                  torch.tensor([math.pi / 6], dtype=torch.float64), 0.0, 0.0)
    assert y.item() == pytest.approx(math.tan(math.pi / 6)) and x.item() == pytest.approx(0.0, abs=1e-12)
    # the far side of the sphere is behind the plane
    assert eq.gnomonic_forward(torch.tensor([math.pi]), torch.tensor([0.0]), 0.0, 0.0)[2].item() < 0
    # inverse(forward) is the identity on the visible hemisphere
    g = torch.Generator().manual_seed(0)
    lon = (torch.rand(200, generator=g, dtype=torch.float64) - 0.5) * 1.6 + 0.5
    lat = (torch.rand(200, generator=g, dtype=torch.float64) - 0.5) * 1.6 - 0.3
    x, y, cc = eq.gnomonic_forward(lon, lat, 0.5, -0.3)
    assert (cc > 0).all()
    lon2, lat2 = eq.gnomonic_inverse(x, y, 0.5, -0.3)
    np.testing.assert_allclose(lon2, lon, atol=1e-10)
    np.testing.assert_allclose(lat2, lat, atol=1e-10)


def test_pixel_and_ray_conventions():
    H, W = 8, 16
    lon, lat = eq.erp_lonlat_grid(H, W)
    assert lon[0, 0] == pytest.approx(-math.pi) and lon[0, -1] == pytest.approx(math.pi)
    assert lat[0, 0] == pytest.approx(-math.pi / 2) and lat[-1, 0] == pytest.approx(math.pi / 2)
    for ac in (True, False):
        u, v = torch.tensor([0.0, 3.5, 15.0]), torch.tensor([0.0, 2.25, 7.0])
        lo, la = eq.erp_pixel_to_lonlat(u, v, H, W, ac)
        u2, v2 = eq.lonlat_to_erp_pixel(lo, la, H, W, ac)
        np.testing.assert_allclose(u2, u, atol=1e-5)
        np.testing.assert_allclose(v2, v, atol=1e-5)
    xyz = eq.lonlat_to_xyz(torch.tensor([0.0, math.pi / 2, 0.0]), torch.tensor([0.0, 0.0, math.pi / 2]))
    np.testing.assert_allclose(xyz, [[0, 1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-7)  # y fwd, x right, z down
    lo, la = eq.xyz_to_lonlat(xyz * 3)
    np.testing.assert_allclose(lo[:2], [0, math.pi / 2], atol=1e-6)
    np.testing.assert_allclose(la, [0, 0, math.pi / 2], atol=1e-6)


def official_sample_grid(patch, fov, nrows):
    """The official equi2pers_v3 grid, re-derived from its formulas: screen points in [0, 1], tangent
    coordinates (2s - 1) * pi * fov / 360, inverse gnomonic, grid = (lon / pi, lat / (pi / 2))."""
    cols, lats = eq.OMNIFUSION_LAYOUTS[nrows]
    s = torch.linspace(0, 1, patch, dtype=torch.float64)
    yy, xx = torch.meshgrid(s, s, indexing='ij')
    x = (xx * 2 - 1) * math.pi * fov / 360
    y = (yy * 2 - 1) * (math.pi / 2) * fov / 180
    grids = []
    for n, phi in zip(cols, lats):
        for j in range(n):
            lon0 = ((j + 0.5) * 360 / n / 360 * 2 - 1) * math.pi
            lat0 = ((phi + 90) / 180 * 2 - 1) * (math.pi / 2)
            rho = torch.sqrt(x ** 2 + y ** 2)
            c = torch.atan(rho)
            lat = torch.asin(torch.cos(c) * math.sin(lat0) + torch.nan_to_num(y * torch.sin(c) * math.cos(lat0) / rho))
            lon = lon0 + torch.atan2(x * torch.sin(c), rho * math.cos(lat0) * torch.cos(c)
                                     - y * math.sin(lat0) * torch.sin(c))
            ln = lon / math.pi
            ln = torch.where(ln > 1, ln - 2, ln)
            ln = torch.where(ln < -1, ln + 2, ln)
            grids.append(torch.stack([ln, lat / (math.pi / 2)], -1))
    return torch.stack(grids)


def test_sampling_grid_equals_official_formula():
    proj = eq.TangentProjection((32, 64), patch_size=9, fov=80, nrows=4)
    np.testing.assert_allclose(proj.sample_grid.double(), official_sample_grid(9, 80, 4), atol=1e-6)


def test_roundtrip_reproduces_image():
    H, W = 64, 128
    img = smooth_sphere_image(H, W)
    proj = eq.TangentProjection((H, W), patch_size=32)
    patches = proj.to_patches(img)
    assert patches.shape == (1, 3, 32, 32, 18)
    back, cov = proj.to_erp(patches, return_coverage=True)
    assert back.shape == img.shape and cov.shape == (H, W)
    assert (cov > 0).all()  # the default 18-patch layout sees the whole sphere
    err = (back - img).abs()[0]
    assert err.max() < 0.02 and err.mean() < 2e-3
    # confidence weights: uniform weights change nothing; a patch with zero weight drops out
    w = torch.ones(1, 1, 32, 32, 18)
    torch.testing.assert_close(proj.to_erp(patches, weights=w), back)
    w.zero_()
    w[..., 5] = 1  # only patch 5 counts: its footprint is reproduced, everything else is 0
    back5 = proj.to_erp(patches, weights=w)
    inside = proj.merge_valid[5]
    assert 0 < inside.float().mean() < 0.2
    assert (back5[0, :, ~inside] == 0).all()
    assert (back5 - img).abs()[0][:, inside].max() < 0.02
    # exact-FoV convention and pixel-centre convention round-trip too
    for kw in (dict(convention='exact'), dict(align_corners=False)):
        p = eq.TangentProjection((H, W), patch_size=32, **kw)
        ref = smooth_sphere_image(H, W, kw.get('align_corners', True))
        b, c = p.to_erp(p.to_patches(ref), return_coverage=True)
        assert (c > 0).all() and (b - ref).abs()[0].mean() < 3e-3


def test_patch_pixels_land_on_their_rays():
    """Sample an image that *is* the ray direction: every patch pixel must read its own unit ray."""
    H, W = 181, 361
    lon, lat = eq.erp_lonlat_grid(H, W, True, torch.float64)
    img = eq.lonlat_to_xyz(lon, lat).permute(2, 0, 1)[None].float()
    proj = eq.TangentProjection((H, W), patch_size=15)
    sampled = proj.to_patches(img)[0].permute(3, 0, 1, 2)  # (N, 3, h, w)
    xyz = proj.patch_xyz()
    assert xyz.shape == (18, 3, 15, 15)
    np.testing.assert_allclose(torch.linalg.norm(xyz, dim=1), 1, atol=1e-6)
    assert (sampled - xyz).abs().max() < 0.01
    centres = eq.lonlat_to_xyz(proj.centers[:, 0].double(), proj.centers[:, 1].double()).float()
    np.testing.assert_allclose(xyz[:, :, 7, 7], centres, atol=1e-6)  # odd size: the middle pixel is the centre
    assert proj.patch_xyz(4).shape == (18, 3, 4, 4)


def test_buffers_are_not_checkpointed_and_move():
    proj = eq.TangentProjection((16, 32), patch_size=8)
    assert proj.state_dict() == {}
    assert proj.to(torch.float64).sample_grid.dtype == torch.float64


def test_depth_to_points_and_solid_angle():
    depth = torch.full((9, 18), 2.5)
    depth[0, 0] = 0
    pts = eq.erp_depth_to_points(depth)
    assert pts.shape == (9 * 18 - 1, 3)
    np.testing.assert_allclose(torch.linalg.norm(pts, dim=1), 2.5, atol=1e-5)
    w = eq.solid_angle_weights(9, 18)
    assert w[4, 0] == pytest.approx(1.0) and w[0, 0] == pytest.approx(0.0, abs=1e-6)


def test_pano_depth_files(tmp_path):
    d = np.array([[0.0, 1.0, 2.5], [127.9, 0.3, -1.0]])
    eq.write_pano_depth_png(str(tmp_path / 'd.png'), d, 1 / 512, 65535)
    raw = __import__('cv2').imread(str(tmp_path / 'd.png'), -1)
    assert raw.dtype == np.uint16 and raw[0, 0] == 65535 and raw[0, 1] == 512
    back = eq.read_pano_depth(str(tmp_path / 'd.png'), 1 / 512, 65535)
    np.testing.assert_allclose(back, [[0, 1, 2.5], [np.round(127.9 * 512) / 512, np.round(0.3 * 512) / 512, 0]])
    np.save(tmp_path / 'd.npy', np.array([[1.0, np.nan]]))
    np.testing.assert_allclose(eq.read_pano_depth(str(tmp_path / 'd.npy')), [[1.0, 0.0]])
    with pytest.raises(FileNotFoundError):
        eq.read_pano_depth(str(tmp_path / 'missing.png'))


def test_exr_without_backend_is_a_clear_error(tmp_path):
    (tmp_path / 'd.exr').write_bytes(b'\x76\x2f\x31\x01' + b'\0' * 16)
    try:
        eq.read_pano_depth(str(tmp_path / 'd.exr'))
    except OSError as e:
        assert 'OpenEXR' in str(e)
    else:  # a backend exists and read the (bogus) file: nothing to check
        pass


def test_grid_sample_convention_sanity():
    """align_corners=True: grid -1 / +1 hit the first / last column exactly (what the layout assumes)."""
    img = torch.arange(8.0).reshape(1, 1, 1, 8)
    g = torch.tensor([[[[-1.0, 0.0], [1.0, 0.0]]]])
    out = F.grid_sample(img, g, align_corners=True)
    assert out.flatten().tolist() == [0.0, 7.0]
