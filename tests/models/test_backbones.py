"""The backbone interface (geoperc/models/backbones/base.py) and its two implementations."""
import os

import pytest
import torch
import torch.nn as nn

from geoperc.errors import CheckpointError
from geoperc.models.backbones import GeoBackbone, GeoResNet, StagedGeoBackbone, TimmSwinV2

TINY_SWIN = dict(model_name='swinv2_tiny_window8_256', embed_dim=16, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8),
                 img_size=64, drop_path_rate=0.0)


def _check_maps(bb, x):
    outs = bb(x)
    assert isinstance(outs, list) and len(outs) == len(bb.out_channels) == len(bb.strides)
    for o, c, s in zip(outs, bb.out_channels, bb.strides):
        assert o.shape == (x.shape[0], c, -(-x.shape[2] // s), -(-x.shape[3] // s))
    return outs


@pytest.mark.parametrize('depth,channels', [(18, [16, 32, 64, 128]), (50, [64, 128, 256, 512])])
def test_resnet_declares_and_returns_its_maps(depth, channels):
    bb = GeoResNet(depth=depth, in_channels=5, base_channels=16)
    assert isinstance(bb, GeoBackbone) and bb.in_channels == 5 and bb.conv1.in_channels == 5
    assert bb.out_channels == channels and bb.strides == [4, 8, 16, 32] and bb.size_divisibility == 32
    _check_maps(bb, torch.randn(2, 5, 64, 96))
    assert GeoResNet(depth=18, out_indices=(1, 3)).strides == [8, 32]
    assert GeoResNet(depth=18, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)).strides == [4, 8, 16, 16]


def test_resnet_is_mmdets_resnet_key_for_key():
    from mmdet.models.backbones import ResNet
    ours = GeoResNet(depth=18).state_dict()
    theirs = ResNet(depth=18).state_dict()
    assert list(ours) == list(theirs) and all(ours[k].shape == theirs[k].shape for k in ours)


def test_resnet_local_pretrained_only(tmp_path):
    src = GeoResNet(depth=18, base_channels=16)
    src.init_weights()
    path = os.path.join(tmp_path, 'r18.pth')
    torch.save(src.state_dict(), path)
    bb = GeoResNet(depth=18, base_channels=16, in_channels=4, pretrained=path)
    assert not torch.equal(bb.layer2[0].conv1.weight, src.layer2[0].conv1.weight)  # loaded by init_weights
    bb.init_weights()
    assert torch.equal(bb.layer2[0].conv1.weight, src.layer2[0].conv1.weight)
    assert torch.allclose(bb.conv1.weight[:, 3], src.conv1.weight[:, 0] * 3 / 4)  # bands 3 -> R filters
    for bad in ('torchvision://resnet18', os.path.join(tmp_path, 'nope.pth')):
        with pytest.raises(CheckpointError, match='local file'):
            GeoResNet(depth=18, pretrained=bad)


def test_swinv2_is_a_staged_backbone():
    bb = TimmSwinV2(in_channels=3, **TINY_SWIN)
    assert isinstance(bb, StagedGeoBackbone) and bb.stage_format == 'NHWC'
    assert bb.stage_channels == [16, 16, 32, 64, 128] and bb.stage_strides == [4, 4, 8, 16, 32]
    assert bb.out_channels == [16, 32, 64, 128] and bb.strides == [4, 8, 16, 32] and bb.size_divisibility == 32
    x = torch.randn(1, 3, 64, 96)
    outs = _check_maps(bb, x)  # any size divisible by 32 (attention masks rebuilt)
    y, manual = x, []
    for stage in bb.stages:
        y = stage(y)
        manual.append(bb.to_nchw(y))
    assert all(torch.equal(a, b) for a, b in zip(outs, manual[1:]))
    with pytest.raises(CheckpointError, match='local file'):
        TimmSwinV2(pretrained='hf-hub:timm/swinv2_tiny_window8_256', **TINY_SWIN)


def test_the_interface_is_enforced_and_general():
    class NoStrides(GeoBackbone):
        in_channels = 3
        out_channels = [8]

        def forward(self, x):
            return [x]

    with pytest.raises(TypeError, match='abstract'):
        NoStrides()

    class Pyramid(GeoBackbone):
        """A four-level backbone written against the interface alone."""

        def __init__(self, in_channels):
            super().__init__()
            self.in_channels = in_channels
            self.convs = nn.ModuleList([nn.Conv2d(in_channels if i == 0 else 8 * 2 ** (i - 1), 8 * 2 ** i, 3,
                                                  stride=4 if i == 0 else 2, padding=1) for i in range(4)])

        out_channels = property(lambda self: [8, 16, 32, 64])
        strides = property(lambda self: [4, 8, 16, 32])

        def forward(self, x):
            outs = []
            for conv in self.convs:
                x = conv(x)
                outs.append(x)
            return outs

    from geoperc.models.change import FSGNet
    m = FSGNet(in_channels=2, backbone=Pyramid(2), channels=16).eval()
    assert m.size_divisor == 32
    probs = m.predict_dense(torch.randn(1, 2, 2, 64, 64))
    assert probs.shape == (1, 2, 64, 64) and torch.allclose(probs.sum(1), torch.ones(1, 64, 64), atol=1e-6)
    m = FSGNet(in_channels=3, backbone=dict(type=TimmSwinV2, **TINY_SWIN), channels=16).eval()  # a Swin fits
    assert m.predict_dense(torch.randn(1, 2, 3, 64, 64)).shape == (1, 2, 64, 64)
    with pytest.raises(TypeError, match='GeoBackbone'):
        FSGNet(backbone=nn.Conv2d(3, 8, 3))
