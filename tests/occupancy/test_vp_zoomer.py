"""VPZoomer: the two half-image homographies map the VP band and the image corners as the official quads say,
the inverse undoes them, the image warp moves content where the point warp says, voxel projections follow."""
import torch

from geoperc.models.occupancy.vp_zoomer import (VPZoomer, apply_homography, perspective_transform, vp_zoom_homographies,
                                                warp_image, warp_points)

H, W = 370, 1220


def test_band_and_corners():
    vp = torch.tensor([[610.0, 180.0], [500.0, 150.0]], dtype=torch.float64)
    Ml, Mr = vp_zoom_homographies(vp, (H, W), 0.2)
    b = H * 0.2 / 2  # 37 px
    for i in range(2):
        vx, vy = vp[i].tolist()
        up, low = (vy - b) / 2, (vy + b + H) / 2
        src_l = torch.tensor([[[vx, vy - b], [vx, vy + b], [0, H], [0, 0]]], dtype=torch.float64)
        src_r = torch.tensor([[[vx, vy - b], [vx, vy + b], [W, H], [W, 0]]], dtype=torch.float64)
        cw = float(W // 2)
        dst_l = torch.tensor([[[cw, up], [cw, low], [0, low], [0, up]]], dtype=torch.float64)
        dst_r = torch.tensor([[[cw, up], [cw, low], [W, low], [W, up]]], dtype=torch.float64)
        assert torch.allclose(warp_points(src_l, Ml[i:i + 1]), dst_l, atol=1e-6)
        assert torch.allclose(warp_points(src_r, Mr[i:i + 1]), dst_r, atol=1e-6)
        # the VP itself stays on the centre column, between the band's ends (zoomed around it)
        v = warp_points(vp[i:i + 1, None], Ml[i:i + 1])[0, 0]
        assert abs(v[0] - cw) < 1e-6 and up < v[1] < low
    # the inverse homography undoes the warp
    pts = torch.rand(2, 50, 2, dtype=torch.float64) * torch.tensor([W / 2, H], dtype=torch.float64)
    back = warp_points(warp_points(pts, Ml), torch.linalg.inv(Ml))
    assert torch.allclose(back, pts, atol=1e-6)


def test_dlt_matches_known_homography():
    M = torch.tensor([[[1.2, 0.1, 5.0], [-0.05, 0.9, 3.0], [1e-4, 2e-4, 1.0]]], dtype=torch.float64)
    src = torch.tensor([[[0.0, 0.0], [100.0, 0.0], [100.0, 50.0], [0.0, 50.0]]], dtype=torch.float64)
    assert torch.allclose(perspective_transform(src, warp_points(src, M)), M, atol=1e-9)


def test_image_warp_moves_content_like_points():
    h, w = 60, 160
    vp = torch.tensor([[90.0, 25.0]])
    img = torch.zeros(1, 1, h, w)
    src = torch.tensor([[[20.0, 40.0], [130.0, 10.0]]])  # one point per half
    for x, y in src[0].long().tolist():
        img[0, 0, y - 1:y + 2, x - 1:x + 2] = 1.0
    out, M = VPZoomer(0.2)(img, vp)
    dst_l = warp_points(src[:, :1].double(), M['M_left'])[0, 0]
    dst_r = warp_points(src[:, 1:].double(), M['M_right'])[0, 0]
    for d in (dst_l, dst_r):
        x, y = int(round(float(d[0]))), int(round(float(d[1])))
        assert out[0, 0, y, x] > 0.3, (x, y)
    assert out[0, 0].sum() > 0
    # identity homography: warp_image returns the image
    same = warp_image(img, torch.eye(3, dtype=torch.float64)[None])
    assert torch.allclose(same, img, atol=1e-5)


def test_projection_warp_masks():
    vp = torch.tensor([[80.0, 30.0]])
    Ml, Mr = vp_zoom_homographies(vp, (60, 160))
    pts = torch.tensor([[[10.0, 10.0], [150.0, 50.0], [-5.0, 10.0], [100.0, 70.0]]])
    out, inside = apply_homography(pts, Ml, Mr, (60, 160))
    assert torch.allclose(out[0, 0].double(), warp_points(pts[:, :1].double(), Ml)[0, 0], atol=1e-4)
    assert torch.allclose(out[0, 1].double(), warp_points(pts[:, 1:2].double(), Mr)[0, 0], atol=1e-4)
    assert torch.equal(out[0, 2:], pts[0, 2:])  # outside the image: unchanged ...
    assert inside.tolist() == [[True, True, False, False]]  # ... and flagged
