"""SVF: the spatial volume fusion of VPOcc (``VolumeFusion``) and its multi-path anisotropic convolution.

Kim et al., "VPOcc: Exploiting Vanishing Point for 3D Semantic Occupancy Prediction", IROS 2025;
official ``ssc_pl/vpocc/decoders/voxel_fusion.py`` and ``layers/modules.py`` (``MPAC``), summarised in
the design notes on VPOcc. Both volumes are ``(B, C, X, Y, Z)``:

1. ``c = cat(o, z)``;
2. ``o' = ReLU(MPAC(ReLU(BN(Conv3^3(c))))) * o`` and ``z'`` the same with separate weights;
3. ``out = ReLU(BN(MPAC(ReLU(BN(Conv3^3(cat(o', z')))))))``.

MPAC (anisotropic convolution after AIC-Net): a 1x1x1 convolution predicts, per voxel, softmax weights
over the kernel sizes (3, 5, 7) for each of the three axes; the input passes through the last axis'
1x1xk convolutions (ReLU, weighted sum), then the middle axis' 1xkx1, then the first axis' kx1x1, and
the result is added to the input (``residual=True``). Weight groups ``[0, 1, 2]`` of the predicted
``(3, n)`` map go to the first, middle and last axis respectively, as in the official code.
"""
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['MPAC', 'VolumeFusion']


class MPAC(nn.Module):
    """Multi-path anisotropic 3D convolution (keys ``conv_mx``, ``conv_1x1xk``, ``conv_1xkx1``, ``conv_kx1x1``)."""

    def __init__(self, channel: int, kernel: Sequence[int] = (3, 5, 7), dilation: Sequence[int] = (1, 1, 1),
                 residual: bool = True):
        super().__init__()
        self.channel, self.residual, self.n = channel, residual, len(kernel)
        self.conv_mx = nn.Conv3d(channel, 3 * self.n, 1, bias=False)
        self.conv_1x1xk = nn.ModuleList()
        self.conv_1xkx1 = nn.ModuleList()
        self.conv_kx1x1 = nn.ModuleList()
        for k, d in zip(kernel, dilation):
            p = k // 2 * d
            self.conv_1x1xk.append(nn.Conv3d(channel, channel, (1, 1, k), padding=(0, 0, p), dilation=(1, 1, d)))
            self.conv_1xkx1.append(nn.Conv3d(channel, channel, (1, k, 1), padding=(0, p, 0), dilation=(1, d, 1)))
            self.conv_kx1x1.append(nn.Conv3d(channel, channel, (k, 1, 1), padding=(p, 0, 0), dilation=(d, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, X, Y, Z = x.shape
        mx = self.conv_mx(x).view(B, 3, self.n, 1, X, Y, Z).softmax(dim=2)  # per axis, over kernels
        w_first, w_mid, w_last = mx[:, 0], mx[:, 1], mx[:, 2]  # (B, n, 1, X, Y, Z)
        y = sum(w_last[:, i] * F.relu(conv(x)) for i, conv in enumerate(self.conv_1x1xk))
        y = sum(w_mid[:, i] * F.relu(conv(y)) for i, conv in enumerate(self.conv_1xkx1))
        y = sum(w_first[:, i] * F.relu(conv(y)) for i, conv in enumerate(self.conv_kx1x1))
        return y + x if self.residual else y


def _reduct(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(),
                         MPAC(cout, residual=True))


class VolumeFusion(nn.Module):
    """Gated fusion of the original-image and warped-image volumes (keys ``origin_reduct_net``,
    ``warping_reduct_net``, ``fusion_refine``)."""

    def __init__(self, in_channels: int = 128, out_channels: int = 128):
        super().__init__()
        self.origin_reduct_net = _reduct(2 * in_channels, in_channels)
        self.warping_reduct_net = _reduct(2 * in_channels, in_channels)
        self.fusion_refine = nn.Sequential(*_reduct(2 * in_channels, out_channels), nn.BatchNorm3d(out_channels),
                                           nn.ReLU())

    def forward(self, origin: torch.Tensor, warped: torch.Tensor) -> torch.Tensor:
        c = torch.cat([origin, warped], 1)
        o = torch.relu(self.origin_reduct_net(c)) * origin
        z = torch.relu(self.warping_reduct_net(c)) * warped
        return self.fusion_refine(torch.cat([o, z], 1))
