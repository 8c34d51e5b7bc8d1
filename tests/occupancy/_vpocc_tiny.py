"""Shared tiny VPOcc builder and inputs for the occupancy tests."""
import numpy as np
import torch

from geoperc.structures import GeoDataSample

TINY = dict(encoder=dict(depth=18, hidden_dims=32, num_encoder_layers=1, ffn_dims=64, gn_groups=8, frozen_bn=False),
            embed_dims=16, num_classes=5, scene_size=(32, 32, 8), voxel_size=0.8, voxel_origin=(0.0, -12.8, -2.0),
            downsample_z=1, num_heads=4, num_layers=2, attn_dropout=0.0, class_weights='none')
H, W = 48, 160
K = np.array([[92.7, 0.0, 80.0], [0.0, 92.7, 23.7], [0.0, 0.0, 1.0]])
TR = np.array([[-0.001857739, -0.9999659, -0.008039975, -0.004784029],
               [-0.006481465, 0.008051860, -0.9999466, -0.07337429],
               [0.9999773, -0.001805528, -0.006496203, -0.3339968], [0, 0, 0, 1.0]])


def tiny_model(**kw):
    from geoperc.models.occupancy import VPOcc
    cfg = dict(TINY, **kw)
    return VPOcc(**cfg)


def tiny_batch(B=2, with_depth=True, seed=0, num_classes=5):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.normal(size=(B, 3, H, W)).astype(np.float32))
    samples = []
    for i in range(B):
        meta = dict(cam_K=K, T_velo_2_cam=TR, vanishing_point=np.array([80.0 + 3 * i, 23.0]))
        if with_depth:
            meta['depth'] = rng.uniform(2, 30, (H, W)).astype(np.float32)
        s = GeoDataSample(metainfo=meta)
        from mmengine.structures import BaseDataElement
        t = rng.integers(0, num_classes, (32, 32, 8))
        t[rng.random(t.shape) < 0.1] = 255
        s.gt_occ = BaseDataElement(data=torch.from_numpy(t))
        samples.append(s)
    return x, samples
