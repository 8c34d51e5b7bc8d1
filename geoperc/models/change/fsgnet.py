"""FSG-Net: frequency-spatial synergistic gated network for bi-temporal change detection.

Self-contained: blocks (DAWIM, STSAM, LGFU) -> model -> registration. Only STSAM is published as code
(``zxXie-Air/FSG-Net/stsam.py``); DAWIM, LGFU and the wiring are designed from the paper's text
(summarised in ``configs/change/fsgnet/README.md``) and documented below; every choice is a constructor argument.

.. versionadded:: 0.1
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import normal_init
from torch import Tensor

from geoperc.models.backbones import GeoResNet
from geoperc.models.base import ConfigOrModule
from geoperc.models.losses import BCEDiceLoss, CrossEntropyLoss
from geoperc.ops.haar import haar_dwt2d, haar_idwt2d
from geoperc.registry import MODELS

from .base import BaseChangeDetector


# -- blocks -------------------------------------------------------------------------------------------
class DAWIM(nn.Module):
    """Discrepancy-Aware Wavelet Interaction Module (designed from the paper's description).

    The paper: a 2-D Haar DWT (``f_low = [1, 1]/sqrt(2)``, ``f_high = [1, -1]/sqrt(2)``) splits each date's
    feature into LL, LH, HL, HH; low and high frequencies are processed "discerningly" with a
    discrepancy-aware interaction that suppresses pseudo-changes. No equations are published; ours::

        (L_t, H_t) = DWT(F_t)            L_t: (B, C, h, w) = LL;  H_t: (B, 3C, h, w) = [LH, HL, HH]
        # low frequency: radiometric context (illumination, season) -> pull the dates together where
        # the learned gate judges their difference a nuisance
        G_L = sigmoid(BN(Conv3x3([L_1, L_2, |L_1 - L_2|])))          (B, C, h, w)
        L_1' = L_1 - G_L * (L_1 - L_2) / 2,   L_2' = L_2 + G_L * (L_1 - L_2) / 2
        # high frequency: structure (edges, new objects) -> emphasise where the dates differ
        A_H = sigmoid(BN(GroupConv3x3_{3 groups}(|H_1 - H_2|)))       (B, 3C, h, w)
        H_t' = H_t * (1 + A_H)
        F_t' = IDWT(L_t', H_t')                                       (B, C, H, W)

    With ``G_L = 0`` and ``A_H = 0`` the module is the identity (perfect reconstruction). The gates are
    shared by both dates, so the module is symmetric in time. Odd sizes are padded for the DWT and
    cropped after the IDWT.
    """

    def __init__(self, channels: int, norm_cfg: dict) -> None:
        super().__init__()
        self.low_gate = ConvModule(3 * channels, channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=None)
        self.high_gate = ConvModule(3 * channels, 3 * channels, 3, padding=1, groups=3, norm_cfg=norm_cfg,
                                    act_cfg=None)

    def forward(self, f1: Tensor, f2: Tensor) -> tuple[Tensor, Tensor]:
        size = f1.shape[-2:]
        l1, *h1 = haar_dwt2d(f1)
        l2, *h2 = haar_dwt2d(f2)
        g = torch.sigmoid(self.low_gate(torch.cat([l1, l2, (l1 - l2).abs()], dim=1)))
        half = g * (l1 - l2) / 2
        l1, l2 = l1 - half, l2 + half
        hh1, hh2 = torch.cat(h1, dim=1), torch.cat(h2, dim=1)  # (B, 3C, h, w) band-major
        a = 1 + torch.sigmoid(self.high_gate((hh1 - hh2).abs()))
        h1 = (hh1 * a).chunk(3, dim=1)
        h2 = (hh2 * a).chunk(3, dim=1)
        return haar_idwt2d(l1, *h1, size=size), haar_idwt2d(l2, *h2, size=size)


class CrossTemporalAttention(nn.Module):
    """STSAM branch 1 (official ``CrossAttentionWithTemporalEmbedding``): learnable temporal embeddings
    ``t1, t2`` (1, C, 1, 1) (N(0, 1) init) added to the features; shared 1x1 convs give Q, K (C/8) and
    V (C); cross attention **without** 1/sqrt(d) scaling::

        f1' = gamma * V_1 softmax(Q_2 K_1^T)^T + f1,   f2' = gamma * V_2 softmax(Q_1 K_2^T)^T + f2

    with ``gamma`` initialised to 0. Memory O((HW)^2): use on deep, low-resolution features."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.t_embedding1 = nn.Parameter(torch.randn(1, channels, 1, 1))
        self.t_embedding2 = nn.Parameter(torch.randn(1, channels, 1, 1))
        self.query_conv = nn.Conv2d(channels, channels // 8, 1)
        self.key_conv = nn.Conv2d(channels, channels // 8, 1)
        self.value_conv = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, f1: Tensor, f2: Tensor) -> tuple[Tensor, Tensor]:
        B, C, H, W = f1.shape
        e1, e2 = f1 + self.t_embedding1, f2 + self.t_embedding2
        q1, q2 = (self.query_conv(e).flatten(2).transpose(1, 2) for e in (e1, e2))  # (B, N, C/8)
        k1, k2 = (self.key_conv(e).flatten(2) for e in (e1, e2))  # (B, C/8, N)
        v1, v2 = (self.value_conv(e).flatten(2) for e in (e1, e2))  # (B, C, N)
        attn21 = torch.softmax(torch.bmm(q2, k1), dim=-1)  # (B, N, N): date-2 queries over date-1 keys
        attn12 = torch.softmax(torch.bmm(q1, k2), dim=-1)
        out1 = torch.bmm(v1, attn21.transpose(1, 2)).view(B, C, H, W)
        out2 = torch.bmm(v2, attn12.transpose(1, 2)).view(B, C, H, W)
        return self.gamma * out1 + f1, self.gamma * out2 + f2


class CoordAtt(nn.Module):
    """STSAM branch 2: coordinate attention (Hou et al., CVPR 2021) as in the official file:
    pool along W and H, shared 1x1 conv (C -> mip = max(8, C / reduction), bias) + norm + ReLU,
    separate 1x1 convs -> sigmoid gates ``a_h`` (B, C, H, 1), ``a_w`` (B, C, 1, W); ``x * a_h * a_w``."""

    def __init__(self, channels: int, norm_cfg: dict, reduction: int = 32) -> None:
        super().__init__()
        mip = max(8, channels // reduction)
        self.conv1 = nn.Conv2d(channels, mip, 1)
        self.bn1 = build_norm_layer(norm_cfg, mip)[1]
        self.act = nn.ReLU(inplace=True)
        self.conv_h = nn.Conv2d(mip, channels, 1)
        self.conv_w = nn.Conv2d(mip, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        x_h = x.mean(dim=3, keepdim=True)  # (B, C, H, 1)
        x_w = x.mean(dim=2, keepdim=True).transpose(2, 3)  # (B, C, W, 1)
        y = self.act(self.bn1(self.conv1(torch.cat([x_h, x_w], dim=2))))  # (B, mip, H + W, 1)
        y_h, y_w = torch.split(y, [H, W], dim=2)
        a_h = self.conv_h(y_h).sigmoid()  # (B, C, H, 1)
        a_w = self.conv_w(y_w.transpose(2, 3)).sigmoid()  # (B, C, 1, W)
        return x * a_h * a_w


class STSAM(nn.Module):
    """Synergistic Temporal-Spatial Attention Module, exactly as the official ``stsam.py``:
    ``f_t'' = ReLU(BN(Conv1x1_{2C->C, no bias}([CrossAtt(f1, f2)_t, CoordAtt(f_t)])))``; coordinate
    attention and the fusion conv are shared by both dates."""

    def __init__(self, channels: int, norm_cfg: dict, reduction: int = 32) -> None:
        super().__init__()
        self.branch1 = CrossTemporalAttention(channels)
        self.branch2 = CoordAtt(channels, norm_cfg, reduction)
        self.fusion_conv = nn.Sequential(nn.Conv2d(2 * channels, channels, 1, bias=False),
                                         build_norm_layer(norm_cfg, channels)[1], nn.ReLU(inplace=True))

    def forward(self, f1: Tensor, f2: Tensor) -> tuple[Tensor, Tensor]:
        c1, c2 = self.branch1(f1, f2)
        o1 = self.fusion_conv(torch.cat([c1, self.branch2(f1)], dim=1))
        o2 = self.fusion_conv(torch.cat([c2, self.branch2(f2)], dim=1))
        return o1, o2


class LGFU(nn.Module):
    """Lightweight Gated Fusion Unit (designed from the paper's description: "high-level semantics
    selectively gate and integrate crucial details from shallow layers")::

        U   = Up_bilinear(D_deep)                      (B, C, H, W)
        G   = sigmoid(BN(Conv1x1(U)))                  semantic gate, per pixel and channel
        out = PW1x1-BN-ReLU(DW3x3-BN-ReLU(U + G * D_shallow))

    Depthwise-separable refinement keeps it light (C^2 + 10C weights per unit, plus the gate's C^2)."""

    def __init__(self, channels: int, norm_cfg: dict) -> None:
        super().__init__()
        self.gate = ConvModule(channels, channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.dw = ConvModule(channels, channels, 3, padding=1, groups=channels, norm_cfg=norm_cfg)
        self.pw = ConvModule(channels, channels, 1, norm_cfg=norm_cfg)

    def forward(self, deep: Tensor, shallow: Tensor) -> Tensor:
        u = F.interpolate(deep, size=shallow.shape[-2:], mode='bilinear', align_corners=False)
        g = torch.sigmoid(self.gate(u))
        return self.pw(self.dw(u + g * shallow))


# -- model --------------------------------------------------------------------------------------------
@MODELS.register_module()
class FSGNet(BaseChangeDetector):
    """FSG-Net (Xie, Miao, Jiang, Zhang, Yao, Li, Huang, Ghamisi, "FSG-Net: Frequency-Spatial Synergistic
    Gated Network for High-Resolution Remote Sensing Change Detection", arXiv 2509.06482, 2025).

    Only STSAM has official code; the rest follows the paper's description, with these choices:

    1. Siamese ResNet (:class:`~geoperc.models.backbones.GeoResNet`, mmdet's ResNet 18/34/50; weights
       shared by the dates, run per date so BN statistics are per date as in the template the authors'
       script imports), ``in_channels`` = band count, features at 1/4, 1/8, 1/16, 1/32. Any
       :class:`~geoperc.models.backbones.GeoBackbone` with four levels fits.
    2. A shared 1x1 ConvModule per level reduces them to ``channels``.
    3. DAWIM (frequency domain) at ``dawim_levels`` (all four by default), then STSAM (spatial domain)
       at ``stsam_levels`` (the 1/32 level by default: its attention is O((HW)^2)).
    4. Per level, the dates are fused into a change feature ``D_l = ConvModule3x3([F_1, F_2, |F_1 - F_2|])``.
    5. LGFU top-down: ``D = D_4; D = LGFU(D, D_l)`` for l = 3, 2, 1.
    6. Head at 1/4: ConvModule3x3 + Dropout2d(0.1) + Conv1x1, bilinearly upsampled. For a binary task
       (``num_classes=2``, ``use_sigmoid`` left to None) one change logit with BCE + Dice (the template's
       ``bce+dice``; weights 1 and 1, unconfirmed by the paper); with ``use_sigmoid=False`` or more classes,
       ``num_classes`` logits and softmax cross-entropy (our extension: the paper is binary).

    Pretrained weights: ``pretrained`` is a local torchvision/mmdet ResNet checkpoint, loaded by the
    backbone's ``init_weights`` (after the default initialisation, so the runner's ``init_weights`` call
    keeps it); for ``in_channels != 3`` the first convolution's RGB filters are repeated over the bands
    and scaled by ``3 / C`` (:func:`geoperc.models.backbones.adapt_input_conv`).

    Args:
        in_channels: bands per date (passed to the backbone).
        num_classes: change classes (2).
        backbone: :class:`~geoperc.models.backbones.GeoResNet` arguments (``type`` defaults to it, depth 18)
            or any four-level GeoBackbone config / module.
        pretrained: local backbone checkpoint or None.
        channels: decoder width.
        dawim_levels / stsam_levels: level indices (0 = 1/4 .. 3 = 1/32) with DAWIM / STSAM.
        stsam_reduction: coordinate-attention reduction (32).
        dropout_ratio: head dropout.
        use_sigmoid: one sigmoid change logit (None: when ``num_classes == 2``).
        loss: loss config or module (default ``BCEDiceLoss`` with a sigmoid head, ``CrossEntropyLoss``
            otherwise).
        norm_cfg: norm of every block outside the backbone, and of the default backbone (BN or SyncBN).
        ignore_index, align_corners, data_preprocessor, init_cfg: as :class:`BaseChangeDetector`.
    """

    def __init__(self, *, in_channels: int = 3, num_classes: int = 2, backbone: ConfigOrModule | None = None,
                 pretrained: str | None = None, channels: int = 64, dawim_levels: Sequence[int] = (0, 1, 2, 3),
                 stsam_levels: Sequence[int] = (3,), stsam_reduction: int = 32, dropout_ratio: float = 0.1,
                 use_sigmoid: bool | None = None, loss: ConfigOrModule | None = None, norm_cfg: dict | None = None,
                 ignore_index: int = 255, align_corners: bool = False, data_preprocessor: Any = None,
                 init_cfg: Any = None) -> None:
        norm_cfg = dict(norm_cfg or dict(type='BN', requires_grad=True))
        default = dict(type=GeoResNet, depth=18, out_indices=(0, 1, 2, 3), norm_cfg=norm_cfg, norm_eval=False,
                       style='pytorch', init_cfg=None)
        super().__init__(self.backbone_config(backbone, default, in_channels, pretrained), in_channels,
                         num_classes=num_classes, ignore_index=ignore_index, align_corners=align_corners,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.use_sigmoid = num_classes == 2 if use_sigmoid is None else bool(use_sigmoid)
        if self.use_sigmoid and num_classes != 2:
            raise ValueError(f'FSGNet: a sigmoid head is binary, got num_classes={num_classes}')
        feat_ch = list(self.backbone.out_channels)
        if len(feat_ch) != 4:
            raise ValueError(f'FSGNet needs a four-level backbone, got out_channels={feat_ch}')
        self.dawim_levels = tuple(dawim_levels)
        self.stsam_levels = tuple(stsam_levels)
        self.reduce = nn.ModuleList([ConvModule(c, channels, 1, norm_cfg=norm_cfg) for c in feat_ch])
        self.dawim = nn.ModuleDict({str(i): DAWIM(channels, norm_cfg) for i in self.dawim_levels})
        self.stsam = nn.ModuleDict({str(i): STSAM(channels, norm_cfg, stsam_reduction) for i in self.stsam_levels})
        self.fuse = nn.ModuleList([ConvModule(3 * channels, channels, 3, padding=1, norm_cfg=norm_cfg)
                                   for _ in feat_ch])
        self.lgfu = nn.ModuleList([LGFU(channels, norm_cfg) for _ in feat_ch[:-1]])
        self.head = nn.Sequential(ConvModule(channels, channels, 3, padding=1, norm_cfg=norm_cfg),
                                  nn.Dropout2d(dropout_ratio) if dropout_ratio > 0 else nn.Identity(),
                                  nn.Conv2d(channels, 1 if self.use_sigmoid else num_classes, 1))
        normal_init(self.head[-1], mean=0, std=0.01, bias=0)
        if loss is None:
            loss = dict(type=BCEDiceLoss if self.use_sigmoid else CrossEntropyLoss, ignore_index=ignore_index)
        self.set_losses(loss)

    # -- forward --------------------------------------------------------------------------------------
    def change_features(self, inputs: Tensor) -> list[Tensor]:
        """``inputs`` (B, 2, C, H, W) -> fused change features D_1..D_4 (B, channels, H/4 .. H/32)."""
        x1, x2 = self.split_dates(inputs)
        f1 = [r(f) for r, f in zip(self.reduce, self.backbone(x1))]
        f2 = [r(f) for r, f in zip(self.reduce, self.backbone(x2))]
        out = []
        for i, (a, b) in enumerate(zip(f1, f2)):
            if str(i) in self.dawim:
                a, b = self.dawim[str(i)](a, b)
            if str(i) in self.stsam:
                a, b = self.stsam[str(i)](a, b)
            out.append(self.fuse[i](torch.cat([a, b, (a - b).abs()], dim=1)))
        return out

    def _forward(self, inputs: Tensor, data_samples: Sequence | None = None) -> list[Tensor]:
        """``[logits]``: (B, 1, H/4, W/4) change logit (sigmoid head) or (B, num_classes, H/4, W/4)."""
        d = self.change_features(inputs)
        x = d[-1]
        for i in range(len(d) - 2, -1, -1):
            x = self.lgfu[i](x, d[i])
        return [self.head(x)]


__all__ = ['FSGNet', 'DAWIM', 'STSAM', 'LGFU', 'CrossTemporalAttention', 'CoordAtt']
