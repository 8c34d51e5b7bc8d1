"""mmdet's ResNet behind the :class:`~geoperc.models.backbones.base.GeoBackbone` interface.

:class:`GeoResNet` *is* an mmdet ``ResNet`` (a subclass: the same modules, so the same state-dict keys,
and torchvision / mmdet ResNet checkpoints load as they are) that declares ``out_channels``,
``strides`` and ``size_divisibility``, returns a list, takes any band count and loads only local
weights (``pretrained``: a file path, with the RGB first convolution adapted to ``in_channels`` by
:func:`geoperc.models.backbones.pretrained.adapt_input_conv`).

.. versionadded:: 0.2
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from mmdet.models.backbones import ResNet

from geoperc.registry import MODELS

from .base import GeoBackbone, check_local_checkpoint

__all__ = ['GeoResNet']


@MODELS.register_module()
class GeoResNet(ResNet, GeoBackbone):
    """mmdet ``ResNet`` (18/34/50/101/152) returning ``[C2, C3, C4, C5]`` NCHW maps.

    Args:
        depth: 18, 34, 50, 101 or 152.
        in_channels: input bands.
        pretrained: local torchvision / mmdet ResNet checkpoint (``state_dict`` / ``model`` wrappers and
            an unused ``fc`` are fine), loaded by :meth:`init_weights` after the default initialisation;
            ``None`` = random initialisation. Never a hub name.
        out_indices: stages returned (0 = stride 4 ... 3 = stride 32).
        norm_eval: keep BN statistics frozen in training (mmdet's default ``True``; geoperc trains
            from scratch or fine-tunes whole, hence ``False``).
        style: ``'pytorch'`` (stride on the 3x3 conv, torchvision) or ``'caffe'``.
        **kwargs: any other mmdet ``ResNet`` argument (``base_channels``, ``norm_cfg``, ``strides``,
            ``dilations``, ``frozen_stages``, ``with_cp``, ...). ``init_cfg`` None is mmdet's Kaiming /
            constant initialisation.
    """

    def __init__(self, depth: int = 18, in_channels: int = 3, pretrained: str | None = None,
                 out_indices: Sequence[int] = (0, 1, 2, 3), norm_eval: bool = False, style: str = 'pytorch',
                 **kwargs: Any) -> None:
        super().__init__(depth=depth, in_channels=in_channels, out_indices=tuple(out_indices),
                         norm_eval=norm_eval, style=style, pretrained=None, **kwargs)
        self.in_channels = in_channels
        self.pretrained = check_local_checkpoint(pretrained)

    # mmdet's ResNet stores its per-stage strides as ``self.strides``; keep them as ``stage_strides``
    # so that ``strides`` is the interface's (cumulative, per returned map).
    @property
    def strides(self) -> list[int]:
        out, s = [], 4  # stem: conv stride 2 + max-pool stride 2
        for st in self._stage_strides:
            s *= st
            out.append(s)
        return [out[i] for i in self.out_indices]

    @strides.setter
    def strides(self, value: Sequence[int]) -> None:
        self._stage_strides = tuple(value)

    @property
    def stage_strides(self) -> tuple[int, ...]:
        """mmdet's per-stage strides (1, 2, 2, 2)."""
        return self._stage_strides

    @property
    def out_channels(self) -> list[int]:
        return [self.base_channels * self.block.expansion * 2 ** i for i in self.out_indices]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(super().forward(x))

    def init_weights(self) -> None:
        ResNet.init_weights(self)  # mmdet / mmengine initialisation (init_cfg)
        if self.pretrained:
            self.load_pretrained()
