"""MutDet step 2: rotated crops, the frozen ResNet embedder, PCA / spherical k-means, the step-2 run."""
import math
import os
import os.path as osp

import numpy as np
import pytest
import torch

from geoperc.errors import CheckpointError, DatasetError
from geoperc.models.detection.mutdet_embed import (EmbeddingSpace, ObjectEmbedder, build_embeddings, fit_pca,
                                                   roi_align_rotated_torch, spherical_kmeans)


def _two_colour_box(H=120, W=140, box=(70.0, 60.0, 60.0, 24.0, math.radians(30))):
    """Image whose rotated box is red on its first half along the width axis and blue on the other."""
    cx, cy, w, h, a = box
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    u = (xs - cx) * math.cos(a) + (ys - cy) * math.sin(a)    # along the width direction
    v = -(xs - cx) * math.sin(a) + (ys - cy) * math.cos(a)   # along the height direction
    inside = (np.abs(u) < w / 2) & (np.abs(v) < h / 2)
    img = np.full((H, W, 3), 128, np.uint8)
    img[inside & (u < 0)] = (255, 0, 0)
    img[inside & (u >= 0)] = (0, 0, 255)
    return img, np.array([box], np.float32)


@pytest.mark.parametrize('use_mmcv', [True, False])
def test_crops_follow_the_box_frame(use_mmcv):
    if use_mmcv:
        pytest.importorskip('mmcv.ops')
    img, boxes = _two_colour_box()
    emb = ObjectEmbedder(arch='resnet18', scale=1.0, crop_size=16, resize=None, use_mmcv=use_mmcv)
    crop = emb.crops(img, boxes)[0]  # (3, 16, 16) normalised
    rgb = crop * emb.std[0] + emb.mean[0]
    left, right = rgb[:, 3:13, 1:7], rgb[:, 3:13, 9:15]
    # the crop's x axis is the box's width axis: red on the left, blue on the right, no background inside
    assert left[0].mean() > 230 and left[2].mean() < 25
    assert right[2].mean() > 230 and right[0].mean() < 25
    # x1.5 enlargement shows the grey background around the box
    big = ObjectEmbedder(arch='resnet18', scale=1.5, crop_size=24, resize=None, use_mmcv=use_mmcv)
    rgb = big.crops(img, boxes)[0] * big.std[0] + big.mean[0]
    assert torch.allclose(rgb[:, 0, :], torch.full_like(rgb[:, 0, :], 128), atol=2)
    assert rgb[0, 12, 6] > 230 and rgb[2, 12, 17] > 230


def test_mmcv_and_torch_crops_agree():
    pytest.importorskip('mmcv.ops')
    from mmcv.ops import RoIAlignRotated
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 40, 50, generator=g)
    rois = torch.tensor([[0, 20.3, 18.7, 21.0, 9.0, 0.6], [0, 30.0, 22.0, 15.0, 14.0, -1.2]])
    ref = RoIAlignRotated(7, 1.0, 2, aligned=True, clockwise=True)(x, rois)
    got = roi_align_rotated_torch(x, rois, 7, 2)
    assert torch.allclose(ref, got, atol=1e-4)


def test_embedder_shapes_frozen_and_weights(tmp_path):
    import torchvision
    net = torchvision.models.resnet18(weights=None)
    path = str(tmp_path / 'r18.pth')
    torch.save(net.state_dict(), path)
    emb = ObjectEmbedder(path, arch='resnet18', crop_size=32, resize=None, use_mmcv=False)
    assert torch.equal(emb.body[0].weight, net.conv1.weight)
    emb.train()
    assert not emb.training and not any(p.requires_grad for p in emb.parameters())
    img, boxes = _two_colour_box()
    f = emb(img, np.concatenate([boxes, boxes + [[5, 5, 0, 0, 0]]]))
    assert f.shape == (2, 512) and f.dtype == np.float32
    assert emb(img, np.zeros((0, 5))).shape == (0, 512)
    torch.save({'foo': torch.zeros(1)}, str(tmp_path / 'bad.pth'))
    with pytest.raises(CheckpointError, match='bad.pth'):
        ObjectEmbedder(str(tmp_path / 'bad.pth'), arch='resnet18')
    with pytest.raises(CheckpointError, match='not found'):
        ObjectEmbedder(str(tmp_path / 'none.pth'))


def test_official_crop_geometry_resnet50():
    emb = ObjectEmbedder(use_mmcv=False)  # official: ResNet-50, 224 crops -> layer4 7x7 -> 2048-d
    with torch.no_grad():
        f = emb.embed_crops(torch.zeros(1, 3, 224, 224))
    assert f.shape == (1, 2048) and emb.out_dim == 2048


def _clusters(n_per=40, k=6, d=48, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (k, d)) * 5
    x = np.concatenate([c + rng.normal(0, 0.5, (n_per, d)) for c in centres])
    y = np.repeat(np.arange(k), n_per)
    perm = rng.permutation(len(x))
    return x[perm], y[perm]


def test_pca_is_the_projection_and_deterministic():
    x, _ = _clusters()
    A, b, mean = fit_pca(x, 10)
    assert A.shape == (10, 48) and b.shape == (10,)
    assert np.allclose(A @ A.T, np.eye(10), atol=1e-8)
    z = x @ A.T + b
    assert np.allclose(z.mean(0), 0, atol=1e-8)
    var = z.var(0)
    assert np.all(np.diff(var) <= 1e-9)  # components by decreasing variance
    # the top component captures what numpy's covariance eigen-decomposition says
    w = np.linalg.eigvalsh(np.cov(x.T, bias=True))[::-1]
    assert np.allclose(var, w[:10], rtol=1e-6)
    A2, b2, _ = fit_pca(x, 10)
    assert np.array_equal(A, A2) and np.array_equal(b, b2)
    A3, _, _ = fit_pca(x[:5], 8)  # fewer samples than components: zero rows
    assert np.allclose(A3[4:], 0) and not np.allclose(A3[:4], 0)


def test_spherical_kmeans_recovers_clusters_and_is_seeded():
    x, y = _clusters(k=6)
    space = EmbeddingSpace.fit(x, dim=16, k=6, seed=0)
    emb = space.transform(x)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    pred = space.assign(emb)
    # each true cluster maps to one predicted cluster and vice versa
    pairs = {(a, b) for a, b in zip(y, pred)}
    assert len(pairs) == 6 and len({a for a, _ in pairs}) == 6 and len({b for _, b in pairs}) == 6
    again = EmbeddingSpace.fit(x, dim=16, k=6, seed=0)
    assert np.array_equal(again.centers, space.centers)
    c, lab = spherical_kmeans(emb, 3, seed=1)
    assert c.shape == (3, 16) and set(lab) <= {0, 1, 2} and np.allclose(np.linalg.norm(c, axis=1), 1, atol=1e-5)
    c, lab = spherical_kmeans(emb[:4], 10, seed=1)  # fewer points than clusters: still valid labels
    assert c.shape == (10, 16) and lab.max() < 10


def test_space_save_load(tmp_path):
    x, _ = _clusters()
    s = EmbeddingSpace.fit(x, dim=8, k=4)
    s.save(str(tmp_path / 's.npz'))
    t = EmbeddingSpace.load(str(tmp_path / 's.npz'))
    assert np.array_equal(s.transform(x), t.transform(x)) and t.settings['k'] == 4
    with pytest.raises(DatasetError):
        EmbeddingSpace.load(str(tmp_path / 'none.npz'))


def test_step2_run_per_image_files(tmp_path):
    from geoperc.datasets.detection.dota import parse_dota_txt
    from geoperc.models.detection.mutdet_data import write_object_dataset
    step1 = str(tmp_path / 's1')
    write_object_dataset(step1, n_images=3, size=(96, 96), n_objects=5, seed=1)
    emb = ObjectEmbedder(arch='resnet18', crop_size=32, resize=None, use_mmcv=False)
    out = str(tmp_path / 's2')
    r = build_embeddings(step1, out, emb, dim=8, k=4, progress=False)
    assert r['patches'] == 3 and r['objects'] == 15
    for stem in ('img0000', 'img0001', 'img0002'):
        with np.load(osp.join(out, 'embeddings', stem + '.npz')) as d:
            e, lab = d['embeds'], d['labels']
        src = parse_dota_txt(osp.join(step1, 'labelTxt', stem + '.txt'))['objects']
        dst = parse_dota_txt(osp.join(out, 'labelTxt', stem + '.txt'))['objects']
        assert e.shape == (len(src), 8) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
        assert [o[1] for o in dst] == [f'cluster_{c + 1}' for c in lab]
        assert np.allclose([o[0] for o in dst], [o[0] for o in src], atol=0.051)
    # resumable: features are not recomputed; the fit is reused
    mtime = os.path.getmtime(osp.join(out, 'feats', 'img0001.npy'))
    build_embeddings(step1, out, emb, dim=8, k=4, progress=False)
    assert os.path.getmtime(osp.join(out, 'feats', 'img0001.npy')) == mtime
