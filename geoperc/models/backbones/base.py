"""The one backbone interface of geoperc: :class:`GeoBackbone` (after detectron2's ``Backbone``).

Every model family (change detection, oriented detection, occupancy, depth) takes its image encoder
through this interface, so any registered backbone fits any model that only needs multi-scale maps.

What a backbone declares
------------------------
``in_channels`` (int)
    Input bands (any count: 1, 3 RGB, 4 RGB+NIR, 13 Sentinel-2 ...). RGB-pretrained first layers are
    adapted to it on load (:func:`geoperc.models.backbones.pretrained.adapt_input_conv`).
``out_channels`` (list of int)
    Channels of each map :meth:`GeoBackbone.forward` returns, shallow to deep.
``strides`` (list of int)
    Stride of each returned map relative to the input (4, 8, 16, 32 for a ResNet or a Swin).
``size_divisibility`` (int)
    Input H and W must be multiples of it for the maps to align exactly across levels (models pass it
    to their preprocessor as ``pad_size_divisor``); by default the largest stride.
``forward(x) -> list of Tensor``
    ``x`` (B, in_channels, H, W) -> one NCHW map per level, ``out[i]`` of shape
    ``(B, out_channels[i], ceil(H / strides[i]), ceil(W / strides[i]))``.
``pretrained`` (str or None)
    A *local* checkpoint path, loaded by :meth:`GeoBackbone.init_weights` after the default
    initialisation (so a runner's ``init_weights`` call keeps it). Never a hub name: a path that is not
    an existing file raises :class:`~geoperc.errors.CheckpointError`.

Backbones that let a model act *between* stages (LENet inserts a module after every encoder stage)
derive from :class:`StagedGeoBackbone`, which adds ``stages`` (the modules run one after another),
``stage_channels`` and ``stage_format`` (``'NCHW'`` or ``'NHWC'``), and implements ``forward`` from them.

Implementations: :class:`~geoperc.models.backbones.resnet.GeoResNet` (mmdet's ResNet) and
:class:`~geoperc.models.backbones.timm_swinv2.TimmSwinV2` (timm's Swin Transformer V2).

.. versionadded:: 0.2
"""
from __future__ import annotations

import os
from abc import ABCMeta, abstractmethod
from collections.abc import Sequence

import torch
import torch.nn as nn

from geoperc.errors import CheckpointError

__all__ = ['GeoBackbone', 'StagedGeoBackbone', 'check_local_checkpoint']


def check_local_checkpoint(path: str | None, what: str = 'pretrained') -> str | None:
    """``path`` if it is None or an existing local file; anything else (a hub name, a URL, a missing
    file) raises :class:`CheckpointError` naming it: geoperc never downloads weights."""
    if path is None or path == '':
        return None
    path = os.fspath(path)
    if '://' in path or not os.path.isfile(path):
        raise CheckpointError(f'{path}: {what} weights must be an existing local file (nothing is downloaded)')
    return path


class GeoBackbone(nn.Module, metaclass=ABCMeta):
    """Abstract image encoder returning a list of multi-scale NCHW maps; see the module docstring."""

    in_channels: int
    pretrained: str | None = None

    @property
    @abstractmethod
    def out_channels(self) -> list[int]:
        """Channels of each returned map, shallow to deep."""

    @property
    @abstractmethod
    def strides(self) -> list[int]:
        """Stride of each returned map relative to the input."""

    @property
    def size_divisibility(self) -> int:
        """Input H, W must be multiples of this for exactly aligned levels (default: largest stride)."""
        return max(self.strides)

    @abstractmethod
    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, in_channels, H, W) -> ``[(B, out_channels[i], H / strides[i], W / strides[i]), ...]``."""

    def load_pretrained(self) -> None:
        """Load :attr:`pretrained` (a local file) into this module; called by :meth:`init_weights`."""
        from .pretrained import load_pretrained
        load_pretrained(self, self.pretrained)

    def init_weights(self) -> None:
        """The module's own initialisation, then the local pretrained weights if any."""
        parent = super()
        if hasattr(parent, 'init_weights'):
            parent.init_weights()
        if self.pretrained:
            self.load_pretrained()


class StagedGeoBackbone(GeoBackbone):
    """A backbone run stage by stage, so a model can act between stages.

    Subclasses provide :attr:`stages` (modules applied in order; stage ``i`` takes stage ``i - 1``'s
    output in :attr:`stage_format`) and set, in their constructor, ``stage_channels`` and
    ``stage_strides`` (lists, one entry per stage) and ``out_indices`` (the stages :meth:`forward`
    returns). :meth:`set_input_size` is called before the first stage with the input (H, W) (default:
    nothing to do).
    """

    stage_format: str = 'NCHW'
    stage_channels: list[int]
    stage_strides: list[int]
    out_indices: Sequence[int]

    @property
    @abstractmethod
    def stages(self) -> list[nn.Module]:
        """The stage modules, applied in order."""

    @property
    def out_channels(self) -> list[int]:
        return [self.stage_channels[i] for i in self.out_indices]

    @property
    def strides(self) -> list[int]:
        return [self.stage_strides[i] for i in self.out_indices]

    def set_input_size(self, size: tuple[int, int]) -> None:
        """Prepare for inputs of ``size`` (H, W) (e.g. rebuild attention masks); no-op by default."""

    def to_nchw(self, x: torch.Tensor) -> torch.Tensor:
        """A stage output in NCHW."""
        return x.permute(0, 3, 1, 2) if self.stage_format == 'NHWC' else x

    def from_nchw(self, x: torch.Tensor) -> torch.Tensor:
        """An NCHW map in the stages' format (to feed a modified map to the next stage)."""
        return x.permute(0, 2, 3, 1) if self.stage_format == 'NHWC' else x

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        self.set_input_size(tuple(x.shape[-2:]))
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return [self.to_nchw(outs[i]).contiguous() for i in self.out_indices]
