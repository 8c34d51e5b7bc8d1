"""Bi-temporal change detectors on the model contract (:class:`~geoperc.models.base.BaseDenseModel`).

A change detector is a dense-probability model (``output_kind = 'dense_probs'``) over two dates
(``num_dates = 2``): inputs ``(B, 2, C, H, W)`` with C = ``in_channels`` bands per date. What
:class:`BaseChangeDetector` adds to :class:`~geoperc.models.base.BaseDenseModel`:

* the backbone, built through :func:`~geoperc.models.base.build_module` and required to be a
  :class:`~geoperc.models.backbones.base.GeoBackbone`; the default preprocessor pads to its
  ``size_divisibility``, and a configured one must pad to a multiple of it;
* ``_forward(inputs) -> list[Tensor]``: raw logits, main output first, then auxiliary outputs, each
  ``(B, K, h, w)`` at any resolution, K = ``num_classes`` (softmax) or K = 1 (one sigmoid change logit
  for a binary task);
* :meth:`BaseChangeDetector.loss`: the main loss on the main logits, one auxiliary loss per auxiliary
  output; a loss module returning a tensor is logged as its ``loss_name`` (``loss_ce`` ...), one returning
  a dict keeps its keys; auxiliary keys get ``_aux{i}``;
* :meth:`BaseChangeDetector.predict_dense`: probabilities ``(B, K >= 2, H, W)`` at input resolution (a
  binary logit p is reported as [1 - p, p]); :meth:`~geoperc.models.base.BaseDenseModel.predict` turns
  them into ``pred_probs`` + ``pred_sem_seg`` with the padding cropped.

Subclasses build their modules, call :meth:`BaseChangeDetector.set_losses`, and implement ``_forward``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from geoperc.models.backbones.base import GeoBackbone
from geoperc.models.base import DENSE_PROBS, BaseDenseModel, ConfigOrModule, build_module

__all__ = ['BaseChangeDetector']


class BaseChangeDetector(BaseDenseModel):
    """Base of every bi-temporal change detector; see the module docstring.

    Args:
        backbone: a :class:`GeoBackbone` config or module, shared by both dates.
        in_channels: bands per date.
        num_classes: classes of the change map (2: unchanged / changed).
        ignore_index: reference value never scored; written where the input has no data.
        align_corners: for resizing logits to the input.
        data_preprocessor: config or module; ``None`` = no normalisation, padding to the backbone's
            ``size_divisibility``.
        init_cfg: MMEngine initialisation config.
    """

    output_kind = DENSE_PROBS
    num_dates = 2
    contract_input = dict(size=(64, 64))

    def __init__(self, backbone: ConfigOrModule, in_channels: int, num_classes: int = 2, ignore_index: int = 255,
                 align_corners: bool = False, data_preprocessor: ConfigOrModule | None = None,
                 init_cfg: Any = None) -> None:
        backbone = build_module(backbone)
        if not isinstance(backbone, GeoBackbone):
            raise TypeError(f'{type(self).__name__}: the backbone must be a GeoBackbone '
                            f'(geoperc.models.backbones), got {type(backbone).__name__}')
        if data_preprocessor is None:
            from geoperc.models.data_preprocessors import GeoDataPreprocessor
            data_preprocessor = dict(type=GeoDataPreprocessor, pad_size_divisor=backbone.size_divisibility)
        super().__init__(in_channels, num_classes, ignore_index=ignore_index, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if backbone.in_channels != self.in_channels:
            raise ValueError(f'{type(self).__name__}: in_channels={self.in_channels} but the backbone takes '
                             f'{backbone.in_channels} bands')
        if self.size_divisor % backbone.size_divisibility:
            raise ValueError(f'{type(self).__name__}: the data preprocessor pads to {self.size_divisor}, the '
                             f'backbone needs multiples of {backbone.size_divisibility}: set '
                             f'data_preprocessor.pad_size_divisor={backbone.size_divisibility}')
        self.backbone = backbone
        self.align_corners = align_corners

    @staticmethod
    def backbone_config(backbone: ConfigOrModule | None, default: dict, in_channels: int,
                        pretrained: str | None = None) -> ConfigOrModule:
        """The backbone to build: ``default`` updated with the ``backbone`` dict (the dict alone when it names
        another ``type``), with the model's ``in_channels`` and (when given) ``pretrained``; a module passes
        through (``pretrained`` set on it). A backbone dict naming another band count than the model raises
        (set ``model.in_channels``)."""
        if isinstance(backbone, nn.Module):
            if pretrained:
                from geoperc.models.backbones.base import check_local_checkpoint
                backbone.pretrained = check_local_checkpoint(pretrained)
            return backbone
        backbone = dict(backbone or {})
        kind = backbone.get('type', default['type'])
        same_type = kind in (default['type'], default['type'].__name__)
        cfg = dict(default, **backbone) if same_type else backbone  # defaults are the default type's
        if cfg.get('in_channels', in_channels) != in_channels:
            raise ValueError(f"backbone.in_channels={cfg['in_channels']} but the model's in_channels={in_channels}: "
                             'give the band count once, as model.in_channels')
        cfg['in_channels'] = in_channels
        if pretrained:
            cfg['pretrained'] = pretrained
        return cfg

    def set_losses(self, loss: ConfigOrModule, loss_aux: Sequence[ConfigOrModule] = (),
                   num_aux: int = 0) -> None:
        """Build the main loss and one auxiliary loss per auxiliary output."""
        if len(loss_aux) != num_aux:
            raise ValueError(f'{type(self).__name__}: {num_aux} auxiliary outputs but {len(loss_aux)} '
                             'auxiliary losses')
        self.loss_main = build_module(loss)
        self.loss_aux = nn.ModuleList([build_module(c) for c in loss_aux])

    # -- helpers ------------------------------------------------------------------------------------------
    def split_dates(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, 2, C, H, W)`` -> the two ``(B, C, H, W)`` dates (shape checked)."""
        if inputs.dim() != 5 or inputs.shape[1] != 2 or inputs.shape[2] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects (B, 2, C, H, W) inputs with C = {self.in_channels}, '
                             f'got {tuple(inputs.shape)}')
        return inputs[:, 0], inputs[:, 1]

    @staticmethod
    def stack_targets(data_samples: Sequence) -> Tensor:
        """(B, H, W) long change labels from the samples' ``gt_sem_seg``."""
        return torch.stack([s.gt_sem_seg.data.squeeze(0) for s in data_samples]).long()

    def resize(self, logits: Tensor, size: Sequence[int]) -> Tensor:
        if tuple(logits.shape[-2:]) == tuple(size):
            return logits
        return F.interpolate(logits, size=tuple(size), mode='bilinear', align_corners=self.align_corners)

    @staticmethod
    def _named(out: Tensor | dict[str, Tensor], fn: nn.Module, suffix: str = '') -> dict[str, Tensor]:
        if isinstance(out, dict):
            return {f'{k}{suffix}': v for k, v in out.items()}
        return {f"{getattr(fn, 'loss_name', 'loss_change')}{suffix}": out}

    # -- the contract -------------------------------------------------------------------------------------
    def loss(self, inputs: Tensor, data_samples: Sequence) -> dict[str, Tensor]:
        target = self.stack_targets(data_samples).to(inputs.device)
        outs = self._forward(inputs)
        losses = self._named(self.loss_main(outs[0], target), self.loss_main)
        for i, (logits, fn) in enumerate(zip(outs[1:], self.loss_aux)):
            losses.update(self._named(fn(logits, target), fn, f'_aux{i}'))
        return losses

    def predict_dense(self, inputs: Tensor) -> Tensor:
        """(B, K >= 2, H, W) class probabilities at the input resolution."""
        main = self.resize(self._forward(inputs)[0], inputs.shape[-2:])
        if main.shape[1] == 1:
            p = main.sigmoid()
            return torch.cat([1 - p, p], dim=1)
        return main.softmax(dim=1)
