"""The 3D side of VPOcc: the 3D UNet (Symphonies / MonoScene blocks), the occupancy head and the
learnable factorised position encoding of the voxel queries.

Kim et al., IROS 2025 (VPOcc), built on Symphonies (Jiang et al., CVPR 2024) and MonoScene (Cao & de
Charette, CVPR 2022); official ``ssc_pl/vpocc/decoders/unet3d.py``, ``layers/modules.py``,
``decoders/vpocc_decoder.py`` and Symphonies' ``layers/pos_embed.py`` (as read for this project).

* :class:`UNet3D`: two ``Downsample`` stages (DDR ``Bottleneck3D`` with stride 2, expansion 8:
  C -> 2C -> 4C), an :class:`ASPP` bottleneck (dilations 1, 2, 3), two ``Upsample`` stages
  (``ConvTranspose3d`` 3^3 stride 2) with additive skips. Spatial sizes must be divisible by 4.
* :func:`build_occ_head`: ``ConvTranspose3d`` z x ``downsample_z`` (+BN+ReLU; identity when 1), ASPP,
  ``Upsample`` x2 when ``project_scale`` is 2, 1x1x1 convolution to the classes.
* :class:`LearnableSqueezePositionalEncoding`: per-axis embeddings concatenated and projected; with
  ``squeeze_dims`` the grid of ``n_i * s_i`` entries is re-ordered as the official one (a fixed
  bijection onto the queries, kept for checkpoint parity).
"""
from itertools import chain
from typing import Sequence

import torch
import torch.nn as nn

__all__ = ['Bottleneck3D', 'Downsample', 'Upsample', 'ASPP', 'UNet3D', 'build_occ_head',
           'LearnableSqueezePositionalEncoding']


class Bottleneck3D(nn.Module):
    """DDR 3D residual bottleneck: 1x1x1, then 1x1x3, 1x3x1, 3x1x1 with cross-stage sums, then 1x1x1."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation=(1, 1, 1), expansion: int = 4,
                 downsample: nn.Module = None, bn_momentum: float = 0.1):
        super().__init__()
        bn = lambda c: nn.BatchNorm3d(c, momentum=bn_momentum)  # noqa: E731
        d = dilation
        self.conv1 = nn.Conv3d(inplanes, planes, 1, bias=False)
        self.bn1 = bn(planes)
        self.conv2 = nn.Conv3d(planes, planes, (1, 1, 3), stride=(1, 1, stride), dilation=(1, 1, d[0]),
                               padding=(0, 0, d[0]), bias=False)
        self.bn2 = bn(planes)
        self.conv3 = nn.Conv3d(planes, planes, (1, 3, 1), stride=(1, stride, 1), dilation=(1, d[1], 1),
                               padding=(0, d[1], 0), bias=False)
        self.bn3 = bn(planes)
        self.conv4 = nn.Conv3d(planes, planes, (3, 1, 1), stride=(stride, 1, 1), dilation=(d[2], 1, 1),
                               padding=(d[2], 0, 0), bias=False)
        self.bn4 = bn(planes)
        self.conv5 = nn.Conv3d(planes, planes * expansion, 1, bias=False)
        self.bn5 = bn(planes * expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample
        self.stride = stride

        def pool(k):
            return nn.Sequential(nn.AvgPool3d(k, k), nn.Conv3d(planes, planes, 1, bias=False), bn(planes))
        self.downsample2 = pool((1, stride, 1))
        self.downsample3 = pool((stride, 1, 1))
        self.downsample4 = pool((stride, 1, 1))

    def forward(self, x):
        out1 = self.relu(self.bn1(self.conv1(x)))
        out2 = self.bn2(self.conv2(out1))
        out3 = self.bn3(self.conv3(self.relu(out2)))
        if self.stride != 1:
            out2 = self.downsample2(out2)
        out3 = out3 + out2
        out4 = self.bn4(self.conv4(self.relu(out3)))
        if self.stride != 1:
            out2 = self.downsample3(out2)
            out3 = self.downsample4(out3)
        out4 = out4 + out2 + out3
        out5 = self.bn5(self.conv5(self.relu(out4)))
        residual = self.downsample(x) if self.downsample is not None else x
        return self.relu(out5 + residual)


class Downsample(nn.Module):
    """Stride-2 bottleneck, C -> 2C channels (key ``main``)."""

    def __init__(self, feature: int, bn_momentum: float = 0.1, expansion: int = 8):
        super().__init__()
        out = int(feature * expansion / 4)
        self.main = Bottleneck3D(
            feature, feature // 4, stride=2, expansion=expansion, bn_momentum=bn_momentum,
            downsample=nn.Sequential(nn.AvgPool3d(2, 2), nn.Conv3d(feature, out, 1, bias=False),
                                     nn.BatchNorm3d(out, momentum=bn_momentum)))

    def forward(self, x):
        return self.main(x)


class Upsample(nn.Module):
    """``ConvTranspose3d`` 3^3 stride 2 + BN + ReLU (key ``main``)."""

    def __init__(self, in_channels: int, out_channels: int, bn_momentum: float = 0.1):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose3d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1),
            nn.BatchNorm3d(out_channels, momentum=bn_momentum), nn.ReLU())

    def forward(self, x):
        return self.main(x)


class ASPP(nn.Module):
    """3D ASPP (LMSCNet style): per dilation two 3^3 convolutions with BN; branches summed, plus input, ReLU."""

    def __init__(self, planes: int, dilations: Sequence[int] = (1, 2, 3)):
        super().__init__()
        self.conv1 = nn.ModuleList([nn.Conv3d(planes, planes, 3, padding=d, dilation=d, bias=False) for d in dilations])
        self.bn1 = nn.ModuleList([nn.BatchNorm3d(planes) for _ in dilations])
        self.conv2 = nn.ModuleList([nn.Conv3d(planes, planes, 3, padding=d, dilation=d, bias=False) for d in dilations])
        self.bn2 = nn.ModuleList([nn.BatchNorm3d(planes) for _ in dilations])
        self.relu = nn.ReLU()

    def forward(self, x):
        y = 0
        for c1, b1, c2, b2 in zip(self.conv1, self.bn1, self.conv2, self.bn2):
            y = y + b2(c2(self.relu(b1(c1(x)))))
        return self.relu(y + x)


class UNet3D(nn.Module):
    """Symphonies' 3D UNet at the query resolution (keys ``process_l1/l2``, ``up_13_l2``, ``up_12_l1``,
    ``bottleneck``)."""

    def __init__(self, channels: int = 128, bn_momentum: float = 0.1):
        super().__init__()
        c1, c2, c3 = channels, channels * 2, channels * 4
        self.process_l1 = nn.Sequential(Downsample(c1, bn_momentum))
        self.process_l2 = nn.Sequential(Downsample(c2, bn_momentum))
        self.up_13_l2 = Upsample(c3, c2, bn_momentum)
        self.up_12_l1 = Upsample(c2, c1, bn_momentum)
        self.bottleneck = ASPP(c3, (1, 2, 3))

    def forward(self, x):
        if any(s % 4 for s in x.shape[2:]):
            raise ValueError(f'UNet3D needs a volume divisible by 4 in every axis, got {tuple(x.shape[2:])}')
        l2 = self.process_l1(x)
        l3 = self.bottleneck(self.process_l2(l2))
        up2 = self.up_13_l2(l3) + l2
        return self.up_12_l1(up2) + x


def build_occ_head(embed_dims: int, num_classes: int, downsample_z: int = 2, project_scale: int = 2,
                   bn_momentum: float = 0.1) -> nn.Sequential:
    """The occupancy head (keys ``0`` z-upsampling, ``1`` ASPP, ``2`` x2 upsampling, ``3`` classifier)."""
    if project_scale not in (1, 2):
        raise ValueError(f'project_scale must be 1 or 2, got {project_scale}')
    z_up = nn.Identity() if downsample_z == 1 else nn.Sequential(
        nn.ConvTranspose3d(embed_dims, embed_dims, 3, stride=(1, 1, downsample_z), padding=1,
                           output_padding=(0, 0, downsample_z - 1)),
        nn.BatchNorm3d(embed_dims), nn.ReLU())
    up = Upsample(embed_dims, embed_dims, bn_momentum) if project_scale == 2 else nn.Identity()
    return nn.Sequential(z_up, ASPP(embed_dims, (1, 2, 3)), up, nn.Conv3d(embed_dims, num_classes, 1))


class LearnableSqueezePositionalEncoding(nn.Module):
    """Factorised learnable position embedding (keys ``embeds.{0,1,2}``, ``proj``): ``(1, prod(n_i s_i), C)``."""

    def __init__(self, num_embeds: Sequence[int], embed_dims: int, squeeze_dims: Sequence[int] = None):
        super().__init__()
        self.shape = tuple(int(n) for n in num_embeds)
        self.squeeze_dims = tuple(int(s) for s in squeeze_dims) if squeeze_dims else None
        sq = self.squeeze_dims or (1,) * len(self.shape)
        self.embeds = nn.ModuleList([nn.Embedding(n * sq[i], embed_dims // 2) for i, n in enumerate(self.shape)])
        self.proj = nn.Linear(embed_dims // 2 * len(self.shape), embed_dims)

    def forward(self) -> torch.Tensor:
        sq = self.squeeze_dims or (1,) * len(self.shape)
        full = [n * sq[i] for i, n in enumerate(self.shape)]
        embeds = []
        for i in range(len(self.shape)):
            view = [1] * len(self.shape)
            view[i] = full[i]
            embeds.append(self.embeds[i].weight.reshape(1, *view, -1).expand(1, *full, -1))
        e = torch.cat(embeds, -1)
        if self.squeeze_dims:
            shape = list(chain(*[(n, sq[i]) for i, n in enumerate(self.shape)]))
            dims = [2 * i + 1 for i in range(len(self.shape))] + [2 * i + 2 for i in range(len(self.shape))]
            e = e.reshape(1, *shape, -1).permute(0, *dims, -1)
        return self.proj(e.flatten(1, -2))
