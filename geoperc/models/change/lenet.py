"""LENet: layer exchange and channel-spatial difference weighting for bi-temporal change detection.

Self-contained: blocks (CSDW, SE reduction, FPN, SwinV2 decoder pair, FCN head) -> model -> registration.
Built from the official code (``dyzy41/lenet``, ``LENet4`` / ``MM_LENet4``, mmseg 1.2.1 fork) as
summarised in ``configs/change/lenet/README.md``; no code copied.

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
from timm.models.swin_transformer_v2 import SwinTransformerV2Block
from torch import Tensor

from geoperc.models.backbones import StagedGeoBackbone, TimmSwinV2
from geoperc.models.base import ConfigOrModule
from geoperc.models.losses import CrossEntropyLoss
from geoperc.registry import MODELS

from .base import BaseChangeDetector

# mmcv's HSigmoid(bias=3, divisor=6) == torch's Hardsigmoid (relu6(x + 3) / 6), without mmcv's warning
HSIGMOID = dict(type=nn.Hardsigmoid)


def _make_divisible(value: float, divisor: int) -> int:
    """mmcv/mmseg ``make_divisible``: round to a multiple of ``divisor``, not below 90 % of ``value``."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def _nchw(x: Tensor) -> Tensor:
    return x.permute(0, 3, 1, 2)


def _nhwc(x: Tensor) -> Tensor:
    return x.permute(0, 2, 3, 1)


# -- blocks -------------------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    """ResNet basic block (3x3 conv-norm-ReLU, 3x3 conv-norm, identity, ReLU), C -> C."""

    def __init__(self, channels: int, norm_cfg: dict) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, channels)[1]
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, channels)[1]
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class CSDW(nn.Module):
    """Channel-Spatial Difference Weighting (``CDWeights`` in the official code).

    For bi-temporal features ``xA, xB`` (N, C, H, W)::

        s = 1 - sigmoid(cos_C(xA, xB))      (N, 1, H, W)   cosine over channels at each pixel
        c = 1 - sigmoid(cos_HW(xA, xB))     (N, C, 1, 1)   cosine over pixels for each channel
        w = s * c                            (N, C, H, W)   in about [0.27, 0.73]
        outA = xA + BasicBlock_A(xA * w),   outB = xB + BasicBlock_B(xB * w)

    The two basic blocks are separate (not shared across dates).
    """

    def __init__(self, channels: int, norm_cfg: dict) -> None:
        super().__init__()
        self.conv_a = BasicBlock(channels, norm_cfg)
        self.conv_b = BasicBlock(channels, norm_cfg)

    @staticmethod
    def weights(xa: Tensor, xb: Tensor) -> Tensor:
        """The difference weight ``w = s * c``, (N, C, H, W)."""
        N, C, H, W = xa.shape
        s = 1 - torch.sigmoid(F.cosine_similarity(xa, xb, dim=1)).unsqueeze(1)  # (N, 1, H, W)
        c = 1 - torch.sigmoid(F.cosine_similarity(xa.reshape(N, C, H * W), xb.reshape(N, C, H * W), dim=2))
        return s * c.view(N, C, 1, 1)

    def forward(self, xa: Tensor, xb: Tensor) -> tuple[Tensor, Tensor]:
        w = self.weights(xa, xb)
        return xa + self.conv_a(xa * w), xb + self.conv_b(xb * w)


class SELayerIn2Out(nn.Module):
    """Squeeze-excitation over the concatenated branches, then a 1x1 reduction (mmseg fork's
    ``SELayerIn2Out``): ``y = HSig(BN(conv3(x * HSig(conv2(ReLU(conv1(avgpool(x))))))))``,
    ``in_channels -> out_channels``; squeeze width ``make_divisible(in / ratio, 8)``."""

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: dict, ratio: int = 16) -> None:
        super().__init__()
        mid = _make_divisible(in_channels // ratio, 8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = ConvModule(in_channels, mid, 1, act_cfg=dict(type='ReLU'))
        self.conv2 = ConvModule(mid, in_channels, 1, act_cfg=HSIGMOID)
        self.conv3 = ConvModule(in_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=HSIGMOID)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv3(x * self.conv2(self.conv1(self.pool(x))))


class FPN(nn.Module):
    """Plain FPN (mmseg/mmdet ``FPN`` with ``num_outs == len(in_channels)``, no norm, nearest top-down):
    1x1 laterals with bias, top-down ``l[i-1] += up(l[i])``, 3x3 output convs with bias."""

    def __init__(self, in_channels: Sequence[int], out_channels: int) -> None:
        super().__init__()
        self.lateral_convs = nn.ModuleList([nn.Conv2d(c, out_channels, 1) for c in in_channels])
        self.fpn_convs = nn.ModuleList([nn.Conv2d(out_channels, out_channels, 3, padding=1)
                                        for _ in in_channels])

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        lat = [conv(f) for conv, f in zip(self.lateral_convs, feats)]
        for i in range(len(lat) - 1, 0, -1):
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[-2:], mode='nearest')
        return [conv(x) for conv, x in zip(self.fpn_convs, lat)]


class SwinV2Pair(nn.Module):
    """``depth`` timm ``SwinTransformerV2Block`` s (shift 0, then window // 2, alternating): NHWC in,
    NCHW out (the official ``SwinTV2Block`` without downsampling). ``set_input_size`` follows the
    feature size (the official code fixes it to a 256 px input)."""

    def __init__(self, dim: int, num_heads: int, input_resolution: tuple[int, int], window_size: int = 8,
                 depth: int = 2, drop_path: float = 0.0) -> None:
        super().__init__()
        self.window_size = window_size
        self.blocks = nn.ModuleList([
            SwinTransformerV2Block(dim=dim, input_resolution=input_resolution, num_heads=num_heads,
                                   window_size=window_size, shift_size=0 if i % 2 == 0 else window_size // 2,
                                   drop_path=drop_path)
            for i in range(depth)])
        self._size = tuple(input_resolution)

    def set_input_size(self, size: tuple[int, int]) -> None:
        size = (int(size[0]), int(size[1]))
        if size != self._size:
            for blk in self.blocks:
                blk.set_input_size(size, (self.window_size, self.window_size))
            self._size = size

    def forward(self, x: Tensor) -> Tensor:
        self.set_input_size(x.shape[1:3])
        for blk in self.blocks:
            x = blk(x)
        return _nchw(x)


class FCNHead(nn.Module):
    """mmseg ``FCNHead`` as LENet configures it: ``num_convs`` 3x3 ConvModules (no input concat),
    Dropout2d, 1x1 classifier. Picks ``maps[in_index]``."""

    def __init__(self, in_channels: int, channels: int, num_classes: int, in_index: int, norm_cfg: dict,
                 num_convs: int = 1, kernel_size: int = 3, dropout_ratio: float = 0.1) -> None:
        super().__init__()
        self.in_index = in_index
        self.convs = nn.Sequential(*[
            ConvModule(in_channels if i == 0 else channels, channels, kernel_size, padding=kernel_size // 2,
                       norm_cfg=norm_cfg) for i in range(num_convs)])
        self.dropout = nn.Dropout2d(dropout_ratio) if dropout_ratio > 0 else nn.Identity()
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)
        normal_init(self.conv_seg, mean=0, std=0.01, bias=0)

    def forward(self, maps: Sequence[Tensor]) -> Tensor:
        return self.conv_seg(self.dropout(self.convs(maps[self.in_index])))


# -- model --------------------------------------------------------------------------------------------
@MODELS.register_module()
class LENet(BaseChangeDetector):
    """LENet (Dong, Zuo, Chen, Fu, Meng, "Enhancing Change Detection With Layer Exchange and
    Channel-Spatial Differences", IEEE JSTARS 2025, doi:10.1109/JSTARS.2025.3576831, arXiv 2501.10905).

    Follows the official code (``dyzy41/lenet``, ``LENet4``) where it differs from the paper:

    1. Encoder: SwinV2-B window 8 (timm ``swinv2_base_window8_256``), shared by both dates. A CSDW
       (:class:`CSDW`) follows *every* encoder stage including the patch embedding (5 instances, C = 128,
       128, 256, 512, 1024), and its output feeds the next stage; the patch-embedding feature is then
       dropped, leaving 1/4 .. 1/32 features.
    2. Layer exchange: swap the dates at list indices ``exchange_levels`` (0 and 2: the 1/4 and 1/16
       levels), two separate FPNs (-> ``channels``), swap back.
    3. Decoder, top-down from 1/32 to 1/4, per branch: SwinV2 block pair (heads 32/16/8/4 at 1/32 ..
       1/4, window 8); concatenate with the *other* branch's input at that level; SE + 1x1 reduction
       (:class:`SELayerIn2Out`, HSigmoid, norm); bilinear x2 (not at 1/4); CSDW (levels 1/16, 1/8,
       1/4); the result is *cross*-added into the other branch's next level (A3 += up(B4), ...).
    4. Change maps ``cat(A, B)`` at 1/8, 1/4, 1/4 (2 x ``channels``); FCN heads: main on index 2 (CE
       1.0), auxiliary on 0 and 1 (CE 0.3 each). Logits at 1/4 (1/8 for aux 0), bilinearly resized.

    Past the official code: (a) any input size divisible by 32: the encoder and the decoder blocks
    rebuild their attention masks / window clamping when the input size changes (windows stay 8; a
    feature map not larger than the window becomes one unshifted window, as timm does at build time);
    (b) ``norm_cfg`` BN or SyncBN (official: SyncBN hard-coded); (c) encoder weights from a local path
    (``pretrained``, official: hard-coded relative path); (d) no unused mmseg Swin-T backbone
    (official carries 27.5 M dead parameters and needs ``find_unused_parameters``); (e) any band count
    (``in_channels``). Initialisation matches the official build: timm's for the encoder,
    PyTorch defaults for the FPNs and the decoder SwinV2 blocks, mmcv's for ConvModules, N(0, 0.01)
    classifiers. With the defaults the model has 168,063,726 parameters, as the official forward pass.

    Args:
        in_channels: bands per date (passed to the backbone).
        num_classes: change classes (2; softmax heads).
        backbone: a :class:`~geoperc.models.backbones.StagedGeoBackbone` (a CSDW acts after every stage,
            so the encoder must run stage by stage): :class:`TimmSwinV2` arguments (``type`` defaults to
            it, ``swinv2_base_window8_256``) or a config / module.
        pretrained: local encoder weights (timm / HF / Microsoft SwinV2 checkpoint) or None.
        channels: FPN / decoder width (256).
        decoder_heads: SwinV2 heads at levels 1/4, 1/8, 1/16, 1/32.
        decoder_window: decoder SwinV2 window size.
        decoder_depth: SwinV2 blocks per level.
        exchange_levels: FPN input indices swapped between dates.
        head_channels: FCN head width; ``dropout_ratio`` its dropout.
        main_in_index: change-map index of the main head; ``aux_in_index``: of the auxiliary heads
            (``()`` to disable).
        loss: main loss (CE 1.0); ``loss_aux``: auxiliary losses (CE 0.3 each), one per aux head.
        norm_cfg: normalisation of CSDW, SE and heads (``dict(type='BN')`` / ``'SyncBN'``).
        img_size: the size the attention masks are first built for.
        ignore_index, align_corners, data_preprocessor, init_cfg: as :class:`BaseChangeDetector`.
    """

    def __init__(self, *, in_channels: int = 3, num_classes: int = 2, backbone: ConfigOrModule | None = None,
                 pretrained: str | None = None, channels: int = 256, decoder_heads: Sequence[int] = (4, 8, 16, 32),
                 decoder_window: int = 8, decoder_depth: int = 2, exchange_levels: Sequence[int] = (0, 2),
                 head_channels: int = 256, dropout_ratio: float = 0.1, main_in_index: int = 2,
                 aux_in_index: Sequence[int] = (0, 1), loss: ConfigOrModule | None = None,
                 loss_aux: Sequence[ConfigOrModule] | None = None, norm_cfg: dict | None = None,
                 img_size: int = 256, ignore_index: int = 255, align_corners: bool = False,
                 data_preprocessor: Any = None, init_cfg: Any = None) -> None:
        default = dict(type=TimmSwinV2, model_name='swinv2_base_window8_256', img_size=img_size)
        super().__init__(self.backbone_config(backbone, default, in_channels, pretrained), in_channels,
                         num_classes=num_classes, ignore_index=ignore_index, align_corners=align_corners,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not isinstance(self.backbone, StagedGeoBackbone) or len(self.backbone.stages) != 5:
            raise TypeError('LENet needs a StagedGeoBackbone with five stages (patch embedding + 4), got '
                            f'{type(self.backbone).__name__}')
        norm_cfg = dict(norm_cfg or dict(type='BN', requires_grad=True))
        enc_ch = list(self.backbone.stage_channels)  # patch_embed + 4 stages
        self.exchange_levels = tuple(exchange_levels)
        # encoder-side CSDW, one per encoder stage (patch embedding included)
        self.csdw_enc = nn.ModuleList([CSDW(c, norm_cfg) for c in enc_ch])
        self.fpn_a = FPN(enc_ch[1:], channels)
        self.fpn_b = FPN(enc_ch[1:], channels)
        res = [(img_size // s, img_size // s) for s in (4, 8, 16, 32)]
        self.dec_a = nn.ModuleList([SwinV2Pair(channels, h, r, decoder_window, decoder_depth)
                                    for h, r in zip(decoder_heads, res)])
        self.dec_b = nn.ModuleList([SwinV2Pair(channels, h, r, decoder_window, decoder_depth)
                                    for h, r in zip(decoder_heads, res)])
        self.se_a = nn.ModuleList([SELayerIn2Out(2 * channels, channels, norm_cfg) for _ in range(4)])
        self.se_b = nn.ModuleList([SELayerIn2Out(2 * channels, channels, norm_cfg) for _ in range(4)])
        # decoder CSDW at levels 1/4, 1/8, 1/16 (index 0..2); none at 1/32
        self.csdw_dec = nn.ModuleList([CSDW(channels, norm_cfg) for _ in range(3)])
        head = dict(in_channels=2 * channels, channels=head_channels, num_classes=num_classes,
                    norm_cfg=norm_cfg, dropout_ratio=dropout_ratio)
        self.decode_head = FCNHead(in_index=main_in_index, **head)
        self.aux_heads = nn.ModuleList([FCNHead(in_index=i, **head) for i in aux_in_index])
        if loss_aux is None:
            loss_aux = [dict(type=CrossEntropyLoss, loss_weight=0.3, ignore_index=ignore_index)
                        for _ in aux_in_index]
        self.set_losses(loss or dict(type=CrossEntropyLoss, loss_weight=1.0, ignore_index=ignore_index),
                        loss_aux, num_aux=len(aux_in_index))

    # -- parts ----------------------------------------------------------------------------------------
    def _exchange(self, a: list[Tensor], b: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        a, b = list(a), list(b)
        for i in self.exchange_levels:
            a[i], b[i] = b[i], a[i]
        return a, b

    def encode(self, xa: Tensor, xb: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Shared encoder with a CSDW after every stage. Returns 4 NCHW features per date (1/4..1/32)."""
        B = xa.shape[0]
        enc = self.backbone
        enc.set_input_size(xa.shape[-2:])
        x = torch.cat([xa, xb])  # (2B, C, H, W): both dates through the shared stage at once
        fa, fb = [], []
        for stage, csdw in zip(enc.stages, self.csdw_enc):
            x = enc.to_nchw(stage(x))  # (2B, c, h, w)
            a, b = csdw(x[:B], x[B:])
            fa.append(a)
            fb.append(b)
            x = enc.from_nchw(torch.cat([a, b]))
        return fa[1:], fb[1:]

    def decode(self, fa: list[Tensor], fb: list[Tensor]) -> list[Tensor]:
        """Top-down cross decoder. Returns change maps (B, 2*channels, .) at 1/8, 1/4, 1/4."""
        maps: list[Tensor] = []
        up_a = up_b = None
        for lvl in (3, 2, 1, 0):
            a, b = fa[lvl], fb[lvl]
            if up_a is not None:  # cross-add the other branch's upsampled output
                a, b = a + up_b, b + up_a
            ya = self.se_a[lvl](torch.cat([self.dec_a[lvl](_nhwc(a)), b], dim=1))
            yb = self.se_b[lvl](torch.cat([self.dec_b[lvl](_nhwc(b)), a], dim=1))
            if lvl > 0:
                size = fa[lvl - 1].shape[-2:]
                ya = F.interpolate(ya, size=size, mode='bilinear', align_corners=False)
                yb = F.interpolate(yb, size=size, mode='bilinear', align_corners=False)
            if lvl < 3:
                ya, yb = self.csdw_dec[lvl](ya, yb)
                maps.append(torch.cat([ya, yb], dim=1))
            up_a, up_b = ya, yb
        return maps

    def change_maps(self, inputs: Tensor) -> list[Tensor]:
        """``inputs`` (B, 2, C, H, W) -> the three change maps."""
        xa, xb = self.split_dates(inputs)
        H, W = inputs.shape[-2:]
        if H % 32 or W % 32:
            raise ValueError(f'LENet needs H and W divisible by 32, got {H}x{W}: set the data '
                             'preprocessor pad_size_divisor=32')
        fa, fb = self.encode(xa, xb)
        fa, fb = self._exchange(fa, fb)
        fa, fb = self.fpn_a(fa), self.fpn_b(fb)
        fa, fb = self._exchange(fa, fb)
        return self.decode(fa, fb)

    def _forward(self, inputs: Tensor, data_samples: Sequence | None = None) -> list[Tensor]:
        """[main (B, K, H/4, W/4), aux...] logits."""
        maps = self.change_maps(inputs)
        return [self.decode_head(maps)] + [h(maps) for h in self.aux_heads]


__all__ = ['LENet', 'CSDW', 'SELayerIn2Out', 'FPN', 'SwinV2Pair', 'FCNHead', 'BasicBlock']
