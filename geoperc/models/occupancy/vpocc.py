"""VPOcc: camera-based 3D semantic occupancy (semantic scene completion) guided by the vanishing point.

Kim, Lee, Shin, Oh, Joo, "VPOcc: Exploiting Vanishing Point for 3D Semantic Occupancy Prediction",
IROS 2025 (arXiv 2408.03551). Official code: ``vision3d-lab/VPOcc`` (``ssc_pl/vpocc``, on Symphonies);
the facts used here are summarised in the design notes on VPOcc.

Pipeline (SemanticKITTI defaults; every size is an argument so tests run at e.g. 32 x 32 x 8):

1. The image encoder (:class:`~geoperc.models.occupancy.encoder.VPOccImageEncoder`, shared weights)
   runs on the image and on its VPZoomer warp (:mod:`~geoperc.models.occupancy.vp_zoomer`, alpha 0.2).
2. Voxel queries: a learned embedding per voxel of the ``scene_size / project_scale`` grid with z
   further divided by ``downsample_z`` (256 x 256 x 32 -> 128 x 128 x 8 = 131,072 queries of 128 dims)
   plus a learnable factorised position encoding.
3. Voxel projections: voxel *corners* ``origin + index * voxel_size * project_scale`` (MonoScene's
   ``vox2pix``) through ``T_velo_2_cam`` and ``cam_K``, rounded to pixels, then averaged over z pairs
   (trilinear ``downsample_z`` interpolation as the official ``interpolate_flatten``); reference point
   ``(pix + 0.5) / (w, h)``. The warped branch's references are the same pixels through the VPZoomer
   homographies, truncated to integers as the official ``apply_homography``.
4. Depth proposal: the (stereo) depth map is back-projected (``pix2vox``: ``K^-1``, ``T_velo_2_cam^-1``,
   ``/ voxel_size - 0.5``, z ``/ downsample_z``, truncation); only voxels hit are updated (Q_p).
   Pixels with depth <= 0 are ignored (the official code would send them all to the voxel of the
   camera centre). Without a depth map (``metainfo['depth']`` absent) every voxel in the camera's
   field of view is a query — a documented fallback, not the paper's setting.
5. Original branch: VPCA (:class:`~geoperc.models.occupancy.vpca.VPCrossAttention`), 3 applications
   of one shared layer; warped branch: deformable cross-attention with learned offsets, likewise.
6. SVF (:class:`~geoperc.models.occupancy.svf.VolumeFusion`), the 3D UNet and the occupancy head
   (:mod:`~geoperc.models.occupancy.decoder3d`) -> ``(B, num_classes, *scene_size)`` logits.

Inputs per data sample (metainfo): ``cam_K`` (3, 3) intrinsics of the (cropped) image, ``T_velo_2_cam``
(4, 4), ``vanishing_point`` (2,) pixels, optional ``depth`` (H, W) metres, optional ``voxel_origin``
(3,) (default ``(0, -25.6, -2)``). Targets: ``gt_occ`` (X, Y, Z) with 255 = ignored. Differences from
the official code, all deliberate: any batch size (the official asserts 1), the VPCA points computed
vectorised, no fixed ``image_grid`` buffer (the pixel grid follows the input size), kornia replaced by
an exact DLT + ``grid_sample`` warp.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.structures import BaseDataElement

from geoperc.models.base import VOXEL_LABELS, BaseGeoModel, build_module
from geoperc.registry import MODELS
from .decoder3d import LearnableSqueezePositionalEncoding, UNet3D, build_occ_head
from .encoder import VPOccImageEncoder
from .losses import KITTI360_CLASS_FREQ, SEMANTIC_KITTI_CLASS_FREQ, SSCLoss, class_weights_from_freq
from .svf import VolumeFusion
from .vp_zoomer import VPZoomer, apply_homography
from .vpca import VoxelProposalLayer

__all__ = ['VPOcc', 'VPOccDecoder', 'voxel_projections', 'depth_to_voxels']

MODELS.register_module(module=VPOccImageEncoder, force=True)

_KITTI_K = ((707.0912, 0.0, 601.8873), (0.0, 707.0912, 183.1104), (0.0, 0.0, 1.0))
_KITTI_TR = ((-0.001857739, -0.9999659, -0.008039975, -0.004784029),
             (-0.006481465, 0.008051860, -0.9999466, -0.07337429),
             (0.9999773, -0.001805528, -0.006496203, -0.3339968), (0.0, 0.0, 0.0, 1.0))


def voxel_projections(T_velo_2_cam: torch.Tensor, K: torch.Tensor, origin: torch.Tensor, voxel_size: float,
                      grid: Sequence[int], image_size: Tuple[int, int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pixels ``(B, N, 2)`` (rounded, float) of the voxel corners of ``grid`` (C order) and the FOV mask
    ``(B, N)`` (inside the image and in front of the camera), as MonoScene's ``vox2pix``."""
    B = K.shape[0]
    dev = K.device
    idx = torch.stack(torch.meshgrid(*[torch.arange(g, device=dev, dtype=torch.float64) for g in grid],
                                     indexing='ij'), -1).reshape(-1, 3)
    pts = origin.double().reshape(B, 1, 3) + idx[None] * voxel_size  # (B, N, 3)
    cam = pts @ T_velo_2_cam[:, :3, :3].double().transpose(1, 2) + T_velo_2_cam[:, None, :3, 3].double()
    z = cam[..., 2]
    uv = cam @ K.double().transpose(1, 2)
    pix = torch.round(uv[..., :2] / z[..., None])
    h, w = image_size
    fov = (pix[..., 0] >= 0) & (pix[..., 0] < w) & (pix[..., 1] >= 0) & (pix[..., 1] < h) & (z > 0)
    return pix.float(), fov


def depth_to_voxels(depth: torch.Tensor, K: torch.Tensor, T_velo_2_cam: torch.Tensor, origin: torch.Tensor,
                    voxel_size: float, grid: Sequence[int], downsample_z: int = 1) -> torch.Tensor:
    """``(B, X*Y*Z)`` bool: query voxels hit by the back-projected depth map ``(B, H, W)`` (Symphonies'
    ``pix2vox``: pixel -> camera -> LiDAR -> ``/ voxel_size - 0.5``, z / ``downsample_z``, truncation)."""
    B, H, W = depth.shape
    dev = depth.device
    ys, xs = torch.meshgrid(torch.arange(H, device=dev, dtype=torch.float64),
                            torch.arange(W, device=dev, dtype=torch.float64), indexing='ij')
    d = depth.double().reshape(B, -1)
    pix = torch.stack([xs.reshape(-1)[None] * d, ys.reshape(-1)[None] * d, d], -1)  # (B, HW, 3)
    cam = pix @ torch.linalg.inv(K.double()).transpose(1, 2)
    E_inv = torch.linalg.inv(T_velo_2_cam.double())
    velo = cam @ E_inv[:, :3, :3].transpose(1, 2) + E_inv[:, None, :3, 3]
    vox = (velo - origin.double().reshape(B, 1, 3)) / voxel_size - 0.5
    vox[..., 2] = vox[..., 2] / downsample_z
    vox = vox.long()  # truncation toward zero, as the official .long()
    X, Y, Z = grid
    keep = ((vox[..., 0] >= 0) & (vox[..., 0] < X) & (vox[..., 1] >= 0) & (vox[..., 1] < Y)
            & (vox[..., 2] >= 0) & (vox[..., 2] < Z) & (d > 0))
    mask = torch.zeros(B, X * Y * Z, dtype=torch.bool, device=dev)
    flat = (vox[..., 0] * Y + vox[..., 1]) * Z + vox[..., 2]
    b_idx = torch.arange(B, device=dev)[:, None].expand_as(flat)
    mask[b_idx[keep], flat[keep]] = True
    return mask


class VPOccDecoder(nn.Module):
    """Everything after the image encoder (official ``VPOccDecoder``; key names kept)."""

    def __init__(self, embed_dims: int = 128, num_classes: int = 20, num_levels: int = 3,
                 scene_size: Sequence[int] = (256, 256, 32), project_scale: int = 2, downsample_z: int = 2,
                 voxel_size: float = 0.2, num_layers: int = 3, num_heads: int = 8, num_points: int = 9,
                 vpca_beta: float = 50.0, vpca_c: Sequence[float] = (1.0, 1.5, 2.0),
                 pos_num_embeds: Optional[Sequence[int]] = None, pos_squeeze: Optional[Sequence[int]] = None,
                 attn_dropout: float = 0.1, bn_momentum: float = 0.1):
        super().__init__()
        proj = [int(s) // project_scale for s in scene_size]
        if any(int(s) % project_scale for s in scene_size) or proj[2] % downsample_z:
            raise ValueError(f'scene_size {tuple(scene_size)} must divide by project_scale {project_scale} and '
                             f'its z then by downsample_z {downsample_z}')
        self.proj_shape = tuple(proj)  # grid of the voxel projections (official ori_scene_shape)
        self.scene_shape = (proj[0], proj[1], proj[2] // downsample_z)  # query grid
        self.project_scale, self.downsample_z = project_scale, downsample_z
        self.voxel_size = voxel_size * project_scale
        self.embed_dims = embed_dims
        nq = int(np.prod(self.scene_shape))
        self.voxel_proposal = VoxelProposalLayer(embed_dims, num_layers, num_heads, num_levels, num_points,
                                                 vp_guided=True, dropout=attn_dropout, beta=vpca_beta, c=vpca_c)
        self.voxel_proposal_warp = VoxelProposalLayer(embed_dims, num_layers, num_heads, num_levels, num_points,
                                                      vp_guided=False, dropout=attn_dropout)
        self.scene_embed = nn.Embedding(nq, embed_dims)
        if pos_num_embeds is None:  # official: (128, 128, 2) squeezed (2, 2, 1) for a 128 x 128 x 8 grid
            X, Y, Z = self.scene_shape
            pos_num_embeds, pos_squeeze = ((X, Y, Z // 4), (2, 2, 1)) if Z % 4 == 0 else ((X, Y, Z), None)
        self.scene_pos = LearnableSqueezePositionalEncoding(pos_num_embeds, embed_dims, pos_squeeze)
        n_pos = int(np.prod([n * (pos_squeeze[i] if pos_squeeze else 1) for i, n in enumerate(pos_num_embeds)]))
        if n_pos != nq:
            raise ValueError(f'position encoding covers {n_pos} entries, the query grid {self.scene_shape} has {nq}')
        self.occ_head = build_occ_head(embed_dims, num_classes, downsample_z, project_scale, bn_momentum)
        self.decoder = UNet3D(embed_dims, bn_momentum)
        self.voxel_fusion = VolumeFusion(embed_dims, embed_dims)

    def references(self, K, E, origin, image_size, M_left, M_right):
        """Normalised reference points ``(B, Q, 2)`` of the original and warped branches + FOV ``(B, Q)``."""
        pix, fov = voxel_projections(E, K, origin, self.voxel_size, self.proj_shape, image_size)
        B = pix.shape[0]
        X, Y, Z = self.proj_shape
        if self.downsample_z != 1:
            vol = pix.transpose(1, 2).reshape(B, 2, X, Y, Z)
            pix = F.interpolate(vol, self.scene_shape, mode='trilinear').flatten(2).transpose(1, 2)
            f = F.interpolate(fov.float().reshape(B, 1, X, Y, Z), self.scene_shape, mode='trilinear')
            fov = f.flatten(1) > 0
        h, w = image_size
        size = pix.new_tensor([float(w), float(h)])
        warped, _ = apply_homography(pix, M_left, M_right, image_size)
        ref = (pix + 0.5) / size
        ref_w = (warped.long().float() + 0.5) / size
        return ref, ref_w, fov

    def forward(self, feats: List[torch.Tensor], warped_feats: List[torch.Tensor], vp: torch.Tensor,
                K: torch.Tensor, E: torch.Tensor, origin: torch.Tensor, image_size: Tuple[int, int],
                warp: Dict[str, torch.Tensor], depth: Optional[torch.Tensor] = None) -> torch.Tensor:
        B = feats[0].shape[0]
        ref, ref_w, fov = self.references(K, E, origin, image_size, warp['M_left'], warp['M_right'])
        if depth is not None:
            pts_mask = depth_to_voxels(depth, K, E, origin, self.voxel_size, self.scene_shape, self.downsample_z)
        else:
            pts_mask = fov
        embed = self.scene_embed.weight.unsqueeze(0).expand(B, -1, -1)
        pos = self.scene_pos().expand(B, -1, -1)
        o = self.voxel_proposal(embed, feats, pos, pts_mask, ref, vanishing_point=vp, image_size=image_size)
        z = self.voxel_proposal_warp(embed, warped_feats, pos, pts_mask, ref_w)
        to_vol = lambda t: t.transpose(1, 2).reshape(B, self.embed_dims, *self.scene_shape)  # noqa: E731
        x = self.voxel_fusion(to_vol(o), to_vol(z))
        return self.occ_head(self.decoder(x))


def _meta_tensor(samples, key, default=None, dtype=torch.float32, device=None) -> Optional[torch.Tensor]:
    vals = []
    for s in samples:
        v = s.metainfo.get(key, default) if s is not None else default
        if v is None:
            return None
        vals.append(torch.as_tensor(np.asarray(v), dtype=dtype))
    return torch.stack(vals).to(device)


@MODELS.register_module()
class VPOcc(BaseGeoModel):
    """VPOcc semantic scene completion (``output_kind='voxel_labels'``); see the module docstring.

    Args:
        encoder: config of the image encoder (default: :class:`VPOccImageEncoder`, ResNet-50 + MaskDINO-style
            pixel decoder) or a module returning ``len(view_scales)`` maps of ``embed_dims`` channels.
        embed_dims: query width (128).
        num_classes: 20 (SemanticKITTI) or 19 (SSCBench-KITTI-360).
        scene_size: output voxel grid (256, 256, 32).
        view_scales: encoder strides used (4, 8, 16).
        project_scale, downsample_z: query grid = scene / project_scale with z / downsample_z.
        voxel_size: metres (0.2).
        voxel_origin: LiDAR-frame corner of the grid, used when a sample has no ``voxel_origin``.
        alpha: VPZoomer band (0.2).
        num_layers, num_heads, num_points: attention (3, 8, 9).
        class_weights: CE weights; ``'semantic_kitti'`` (default) / ``'kitti360'``: ``1 / log(freq + 1e-6)`` of
            the official class frequencies; a list; None or ``'none'`` for unweighted.
        loss_weights: ``dict(ce=, sem_scal=, geo_scal=)`` (all 1).
    """

    output_kind = VOXEL_LABELS
    contract_input = dict(size=(32, 96), metainfo=dict(
        cam_K=((40.0, 0.0, 48.0), (0.0, 40.0, 12.0), (0.0, 0.0, 1.0)), T_velo_2_cam=_KITTI_TR,
        vanishing_point=(48.0, 12.0)), grid_shape=(32, 32, 8))
    #: a tiny instance for the contract test (every part of the architecture, small sizes)
    contract_tiny = dict(encoder=dict(depth=18, hidden_dims=32, num_encoder_layers=1, ffn_dims=64, gn_groups=8,
                                      frozen_bn=False),
                         embed_dims=16, num_classes=5, scene_size=(32, 32, 8), voxel_size=0.8,
                         voxel_origin=(0.0, -12.8, -2.0), downsample_z=1, num_heads=4, num_layers=1,
                         class_weights='none')

    def __init__(self, encoder: Optional[dict] = None, embed_dims: int = 128, num_classes: int = 20,
                 scene_size: Sequence[int] = (256, 256, 32), view_scales: Sequence[int] = (4, 8, 16),
                 project_scale: int = 2, downsample_z: int = 2, voxel_size: float = 0.2,
                 voxel_origin: Sequence[float] = (0.0, -25.6, -2.0), alpha: float = 0.2, num_layers: int = 3,
                 num_heads: int = 8, num_points: int = 9, vpca_beta: float = 50.0,
                 vpca_c: Sequence[float] = (1.0, 1.5, 2.0), pos_num_embeds: Optional[Sequence[int]] = None,
                 pos_squeeze: Optional[Sequence[int]] = None, attn_dropout: float = 0.1,
                 class_weights='semantic_kitti', loss_weights: Optional[dict] = None, ignore_index: int = 255,
                 in_channels: int = 3, data_preprocessor=None, init_cfg=None):
        if data_preprocessor is None:  # ImageNet statistics on 0..255 RGB, as the official transforms
            from geoperc.models.data_preprocessors import GeoDataPreprocessor
            data_preprocessor = dict(type=GeoDataPreprocessor, mean=[123.675, 116.28, 103.53],
                                     std=[58.395, 57.12, 57.375])
        super().__init__(in_channels, num_classes, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        enc = dict(type=VPOccImageEncoder, embed_dims=embed_dims, scales=tuple(view_scales))
        if isinstance(encoder, dict):
            enc.update(encoder)
        self.encoder = build_module(enc if not isinstance(encoder, nn.Module) else encoder)
        self.vp_zoomer = VPZoomer(alpha)
        self.decoder = VPOccDecoder(embed_dims, num_classes, len(view_scales), scene_size, project_scale,
                                    downsample_z, voxel_size, num_layers, num_heads, num_points, vpca_beta, vpca_c,
                                    pos_num_embeds, pos_squeeze, attn_dropout)
        self.scene_size = tuple(int(s) for s in scene_size)
        self.contract_input = dict(type(self).contract_input, grid_shape=self.scene_size)
        self.register_buffer('default_origin', torch.tensor(voxel_origin, dtype=torch.float32), persistent=False)
        if isinstance(class_weights, str):
            cw = None if class_weights == 'none' else {
                'semantic_kitti': SEMANTIC_KITTI_CLASS_FREQ, 'kitti360': KITTI360_CLASS_FREQ}.get(class_weights)
            if class_weights != 'none' and cw is None:
                raise ValueError("class_weights: 'semantic_kitti', 'kitti360', 'none' or a list, "
                                 f'got {class_weights!r}')
            class_weights = None if cw is None else class_weights_from_freq(cw)
        if class_weights is not None and len(class_weights) != num_classes:
            raise ValueError(f'{len(class_weights)} class weights for {num_classes} classes')
        self.criterion = SSCLoss(class_weights, ignore_index, 0, loss_weights)
        self.ignore_index = ignore_index

    # -- inputs ---------------------------------------------------------------------------------------
    def _geometry(self, inputs: torch.Tensor, data_samples) -> dict:
        B, _, H, W = inputs.shape
        samples = data_samples if data_samples is not None else [None] * B
        dev = inputs.device
        K = _meta_tensor(samples, 'cam_K', device=dev)
        E = _meta_tensor(samples, 'T_velo_2_cam', device=dev)
        vp = _meta_tensor(samples, 'vanishing_point', device=dev)
        for name, t in (('cam_K', K), ('T_velo_2_cam', E), ('vanishing_point', vp)):
            if t is None:
                raise KeyError(f'VPOcc needs metainfo {name!r} in every data sample (see the model docstring)')
        origin = _meta_tensor(samples, 'voxel_origin', device=dev)
        if origin is None:
            origin = self.default_origin.to(dev).expand(B, 3)
        depth = _meta_tensor(samples, 'depth', device=dev)
        if depth is not None:
            depth = depth.reshape(B, *depth.shape[-2:])[:, :H, :W]
        return dict(K=K.reshape(B, 3, 3), E=E.reshape(B, 4, 4), vp=vp.reshape(B, 2), origin=origin.reshape(B, 3),
                    depth=depth)

    def _forward(self, inputs: torch.Tensor, data_samples: Optional[List] = None) -> torch.Tensor:
        """``(B, num_classes, X, Y, Z)`` logits."""
        g = self._geometry(inputs, data_samples)
        image_size = tuple(inputs.shape[-2:])
        feats = self.encoder(inputs)
        warped, warp = self.vp_zoomer(inputs, g['vp'])
        warped_feats = self.encoder(warped)
        return self.decoder(feats, warped_feats, g['vp'], g['K'], g['E'], g['origin'], image_size, warp,
                            g['depth'])

    def _targets(self, data_samples, device) -> torch.Tensor:
        ts = []
        for s in data_samples:
            if 'gt_occ' not in s:
                raise KeyError('VPOcc.loss needs gt_occ in every data sample')
            d = s.gt_occ.data if isinstance(s.gt_occ, BaseDataElement) else s.gt_occ
            t = torch.as_tensor(np.asarray(d.cpu() if torch.is_tensor(d) else d)).long()
            if tuple(t.shape) != self.scene_size:
                raise ValueError(f'gt_occ has shape {tuple(t.shape)}, the model predicts {self.scene_size}')
            ts.append(t)
        return torch.stack(ts).to(device)

    def loss(self, inputs: torch.Tensor, data_samples: List) -> Dict[str, torch.Tensor]:
        logits = self._forward(inputs, data_samples)
        return self.criterion(logits, self._targets(data_samples, logits.device))

    def predict(self, inputs: torch.Tensor, data_samples: Optional[List] = None) -> List:
        logits = self._forward(inputs, data_samples)
        labels = logits.argmax(1)
        data_samples = self.new_samples(data_samples, inputs.shape[0])
        for i, s in enumerate(data_samples):
            s.pred_occ = BaseDataElement(data=labels[i])
        return data_samples
