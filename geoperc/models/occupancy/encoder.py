"""VPOcc's image encoder: an mmdet ResNet and a MaskDINO-style multi-scale deformable pixel decoder,
projected to the voxel-query width.

Kim et al., IROS 2025 (VPOcc); official ``ssc_pl/vpocc/encoders/mmdet_wrapper.py`` around MaskDINO's
pixel decoder (Li et al., CVPR 2023), config ``maskdino_r50_8xb2-panoptic-export.py`` (as read for this
project). Structure (names follow the official state dict so checkpoints convert one to one):

* ``backbone``: mmdet ``ResNet`` (depth 50, BN affine frozen and ``norm_eval`` as in the config);
* ``pixel_decoder``: ``input_proj`` (1x1 conv + GroupNorm(32) for C3, C4, C5 and a 3x3 stride-2 conv +
  GN on C5 for an extra level), ``transformer.level_embed`` and ``transformer.encoder`` (mmdet
  ``DeformableDetrTransformerEncoder``, 6 layers, 8 heads, 4 levels, 4 points, FFN 2048) with sine
  position encodings; ``adapter_1`` (1x1 conv + GN on C2) and ``layer_1`` (3x3 conv + GN + ReLU) build
  the stride-4 map from C2 plus the upsampled stride-8 output, ``mask_features`` (1x1 conv) on top;
* ``out_projs``: per level Conv1x1 -> BN -> ReLU -> Conv1x1 to ``embed_dims`` (128).

Returned levels (``scales``, default strides 4, 8, 16, as the official wrapper: ``(C2, pixel-decoder
stride 8, pixel-decoder stride 16)``; the design notes). The stride-4 branch of the pixel decoder
(``adapter_1``, ``layer_1``, ``mask_features``) feeds MaskDINO's mask head, not VPOcc: it is kept for
checkpoint parity, computed only when asked (``return_mask_features``) and frozen (``requires_grad``
False) so that every trainable parameter gets a gradient (DDP without ``find_unused_parameters``).

``backbone``: instead of the built-in mmdet ResNet, any :class:`~geoperc.models.backbones.base.GeoBackbone`
config or module with four levels at strides 4, 8, 16, 32 (``out_channels`` gives the pixel decoder's
inputs); official checkpoints then no longer map onto ``backbone.*``.

``depth``/``hidden_dims``/``num_encoder_layers`` etc. are arguments so tests build a small encoder;
``init_cfg=dict(type='Pretrained', checkpoint=LOCAL_FILE)`` (or :meth:`load_maskdino`) loads a local
MaskDINO checkpoint (``maskdino_r50_50e_300q_panoptic_pq53.0.pth``) — never downloaded.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['MaskDINOPixelDecoder', 'VPOccImageEncoder']


def _gn(c: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(groups, c), c)


class _ConvGN(nn.Module):
    """conv + GroupNorm (+ReLU), keys ``conv``/``gn`` as mmcv's ``ConvModule``."""

    def __init__(self, cin, cout, k, groups, relu):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)
        self.gn = _gn(cout, groups)
        self.relu = relu

    def forward(self, x):
        x = self.gn(self.conv(x))
        return F.relu(x) if self.relu else x


class _Transformer(nn.Module):
    def __init__(self, hidden, num_levels, num_layers, num_heads, num_points, ffn_dims):
        super().__init__()
        from mmdet.models.layers import DeformableDetrTransformerEncoder
        self.level_embed = nn.Parameter(torch.zeros(num_levels, hidden))
        nn.init.normal_(self.level_embed)
        self.encoder = DeformableDetrTransformerEncoder(
            num_layers=num_layers,
            layer_cfg=dict(self_attn_cfg=dict(embed_dims=hidden, num_heads=num_heads, num_levels=num_levels,
                                              num_points=num_points, dropout=0.0, batch_first=True),
                           ffn_cfg=dict(embed_dims=hidden, feedforward_channels=ffn_dims, ffn_drop=0.0)))


class MaskDINOPixelDecoder(nn.Module):
    """Multi-scale deformable pixel decoder (MaskDINO / Mask2Former style), see the module docstring.

    ``forward([C2, C3, C4, C5])`` -> ``dict(multi_scale=[stride 8, 16, 32, 64 maps], stride4=map,
    mask_features=map or None)``.
    """

    def __init__(self, in_channels: Sequence[int] = (256, 512, 1024, 2048), hidden: int = 256,
                 num_layers: int = 6, num_heads: int = 8, num_points: int = 4, ffn_dims: int = 2048,
                 gn_groups: int = 32):
        super().__init__()
        c2, *trans_in = in_channels
        self.input_proj = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(c, hidden, 1), _gn(hidden, gn_groups)) for c in trans_in]
            + [nn.Sequential(nn.Conv2d(trans_in[-1], hidden, 3, stride=2, padding=1), _gn(hidden, gn_groups))])
        self.num_levels = len(trans_in) + 1
        self.transformer = _Transformer(hidden, self.num_levels, num_layers, num_heads, num_points, ffn_dims)
        self.mask_features = nn.Conv2d(hidden, hidden, 1)
        self.adapter_1 = _ConvGN(c2, hidden, 1, gn_groups, relu=False)
        self.layer_1 = _ConvGN(hidden, hidden, 3, gn_groups, relu=True)
        self.hidden = hidden
        from mmdet.models.layers import SinePositionalEncoding
        self.pos = SinePositionalEncoding(num_feats=hidden // 2, normalize=True)

    def forward(self, feats: Sequence[torch.Tensor], return_mask_features: bool = False) -> dict:
        c2, *rest = feats
        srcs = [proj(f) for proj, f in zip(self.input_proj[:-1], rest)]
        srcs.append(self.input_proj[-1](rest[-1]))
        B = c2.shape[0]
        flat, pos_flat, shapes = [], [], []
        for lvl, s in enumerate(srcs):
            h, w = s.shape[-2:]
            mask = s.new_zeros((B, h, w), dtype=torch.bool)
            pos = self.pos(mask) + self.transformer.level_embed[lvl].view(1, -1, 1, 1)
            flat.append(s.flatten(2).transpose(1, 2))
            pos_flat.append(pos.flatten(2).transpose(1, 2))
            shapes.append((h, w))
        spatial = torch.as_tensor(shapes, dtype=torch.long, device=c2.device)
        start = torch.cat([spatial.new_zeros(1), (spatial[:, 0] * spatial[:, 1]).cumsum(0)[:-1]])
        valid_ratios = c2.new_ones(B, len(srcs), 2)
        memory = self.transformer.encoder(query=torch.cat(flat, 1), query_pos=torch.cat(pos_flat, 1),
                                          key_padding_mask=None, spatial_shapes=spatial,
                                          level_start_index=start, valid_ratios=valid_ratios)
        outs = [m.transpose(1, 2).reshape(B, self.hidden, h, w)
                for m, (h, w) in zip(memory.split([h * w for h, w in shapes], 1), shapes)]
        s4 = mask = None
        if return_mask_features:
            lat = self.adapter_1(c2)
            s4 = self.layer_1(lat + F.interpolate(outs[0], size=lat.shape[-2:], mode='bilinear', align_corners=False))
            mask = self.mask_features(s4)
        return dict(multi_scale=outs, stride4=s4, mask_features=mask)


class VPOccImageEncoder(nn.Module):
    """ResNet + pixel decoder + output projections -> ``[(B, embed_dims, H/s, W/s) for s in scales]``.

    Args:
        embed_dims: width of the returned maps (128).
        scales: strides to return, from (4, 8, 16) (official: all three).
        depth: ResNet depth (50 official; 18/34 for small builds).
        hidden_dims: pixel-decoder width (256).
        num_encoder_layers, num_heads, num_points, ffn_dims, gn_groups: pixel-decoder transformer.
        frozen_bn: BN affine terms of the ResNet frozen and BN in eval mode (the MaskDINO config).
        pretrained: a *local* MaskDINO checkpoint (its ``backbone.*`` and ``panoptic_head.pixel_decoder.*``
            keys are loaded); None: random init.
    """

    def __init__(self, embed_dims: int = 128, scales: Sequence[int] = (4, 8, 16), depth: int = 50,
                 hidden_dims: int = 256, num_encoder_layers: int = 6, num_heads: int = 8, num_points: int = 4,
                 ffn_dims: int = 2048, gn_groups: int = 32, frozen_bn: bool = True,
                 pretrained: Optional[str] = None, backbone=None):
        super().__init__()
        for s in scales:
            if s not in (4, 8, 16):
                raise ValueError(f'scales must be among (4, 8, 16), got {tuple(scales)}')
        self.scales = tuple(scales)
        if backbone is not None:
            from geoperc.models.base import build_module
            self.backbone = build_module(backbone)
            chans = list(self.backbone.out_channels)
            strides = list(getattr(self.backbone, 'strides', (4, 8, 16, 32)))
            if len(chans) != 4 or strides != [4, 8, 16, 32]:
                raise ValueError(f'VPOccImageEncoder needs a 4-level backbone at strides 4, 8, 16, 32, got '
                                 f'strides {strides} with channels {chans}')
        else:
            from mmdet.models.backbones import ResNet
            self.backbone = ResNet(depth=depth, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=-1,
                                   norm_cfg=dict(type='BN', requires_grad=not frozen_bn), norm_eval=frozen_bn,
                                   style='pytorch')
            chans = [64 * 2 ** i * (4 if depth >= 50 else 1) for i in range(4)]
        self.pixel_decoder = MaskDINOPixelDecoder(chans, hidden_dims, num_encoder_layers, num_heads, num_points,
                                                  ffn_dims, gn_groups)
        for m in (self.pixel_decoder.adapter_1, self.pixel_decoder.layer_1, self.pixel_decoder.mask_features):
            m.requires_grad_(False)
        self.c2_channels = chans[0]
        in_ch = {4: chans[0], 8: hidden_dims, 16: hidden_dims}
        self.out_projs = nn.ModuleList([
            nn.Sequential(nn.Conv2d(in_ch[s], embed_dims, 1), nn.BatchNorm2d(embed_dims), nn.ReLU(inplace=True),
                          nn.Conv2d(embed_dims, embed_dims, 1)) for s in self.scales])
        if pretrained:
            self.load_maskdino(pretrained)

    def load_maskdino(self, path: str) -> List[str]:
        """Load a local MaskDINO checkpoint's backbone and pixel decoder; returns the keys not found."""
        from geoperc.errors import CheckpointError
        import os
        if not os.path.isfile(path):
            raise CheckpointError(f'{path}: MaskDINO checkpoint not found (it is never downloaded)')
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
        state = ckpt.get('state_dict', ckpt.get('model', ckpt)) if isinstance(ckpt, dict) else ckpt
        mapped = {}
        for k, v in state.items():
            k = k[len('model.'):] if k.startswith('model.') else k
            if k.startswith('backbone.'):
                mapped[k] = v
            elif k.startswith('panoptic_head.pixel_decoder.'):
                mapped['pixel_decoder.' + k[len('panoptic_head.pixel_decoder.'):]] = v
        missing, _ = self.load_state_dict(mapped, strict=False)
        missing = [m for m in missing if not m.startswith('out_projs.')]
        if not mapped:
            raise CheckpointError(f'{path}: no backbone.* / panoptic_head.pixel_decoder.* keys (not a MaskDINO '
                                  'checkpoint?)')
        return missing

    def forward(self, img: torch.Tensor) -> List[torch.Tensor]:
        c = self.backbone(img)
        pd = self.pixel_decoder(c)
        by_stride = {4: c[0], 8: pd['multi_scale'][0], 16: pd['multi_scale'][1]}
        return [proj(by_stride[s]) for proj, s in zip(self.out_projs, self.scales)]
