"""A timm Swin Transformer V2 encoder behind the backbone interface, run stage by stage, at any input size.

:class:`TimmSwinV2` is a :class:`~geoperc.models.backbones.base.StagedGeoBackbone`: ``forward`` returns
the four stages as NCHW maps (strides 4, 8, 16, 32; ``out_channels`` D, 2D, 4D, 8D), and LENet (and
anything else that wants to act between encoder stages) iterates :attr:`TimmSwinV2.stages`
(``patch_embed`` followed by the four ``layers``), each taking and returning NHWC tensors. Compared with
``timm.create_model(..., features_only=True)`` (what LENet's official code uses) the parameters are the
same (the final ``norm`` and the classifier are dropped) and the module names stay those of timm's
checkpoints, so a timm ``state_dict`` loads as is.

Input size: timm builds SwinV2 for one ``img_size`` (attention masks and window clamping depend on it).
:meth:`set_input_size` rebuilds those non-persistent buffers for a new size, keeping the configured
window of every stage (8 for ``*_window8_*``); a stage whose feature map is not larger than its window
uses one window covering the whole map without shift, exactly as timm does when built for that size.
:meth:`forward` calls it when the input size changes, so any size divisible by 32 works.

Weights: ``pretrained`` is a local file (timm / HF ``pytorch_model.bin`` or ``.safetensors``, or the
original Microsoft checkpoint), loaded by timm when the encoder is built (so it is in place before any
``init_weights``, which leaves the encoder alone); timm remaps its keys and, for ``in_channels != 3``,
adapts the RGB patch-embedding kernel (the RGB filters repeated over the bands and rescaled by
``3 / in_channels``). Nothing is ever downloaded: a path that is not an existing file raises
:class:`~geoperc.errors.CheckpointError`.

.. versionadded:: 0.1
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import timm
import torch.nn as nn

from geoperc.registry import MODELS

from .base import StagedGeoBackbone, check_local_checkpoint


@MODELS.register_module()
class TimmSwinV2(StagedGeoBackbone):
    """Swin Transformer V2 encoder from timm.

    Args:
        model_name: a timm SwinV2 architecture, e.g. ``'swinv2_base_window8_256'``.
        in_channels: input bands.
        img_size: the size the model is first built for; other sizes are handled on the fly.
        pretrained: local weights path or ``None`` (random init).
        drop_path_rate: stochastic depth.
        out_indices: stages :meth:`forward` returns (0 = patch embedding, 1..4 = the four stages).
        **timm_kwargs: other ``SwinTransformerV2`` arguments (``embed_dim``, ``depths``, ``num_heads``,
            ``window_size``, ...), e.g. for a tiny test variant.

    Shapes: the stages map NHWC to NHWC: the patch embedding (B, H/4, W/4, D), then the four stages
    (B, H/4, W/4, D) ... (B, H/32, W/32, 8D). ``forward(x)`` with ``x`` (B, C, H, W) returns the four
    stages as NCHW maps (``out_indices`` (1, 2, 3, 4)).
    """

    stage_format = 'NHWC'

    def __init__(self, *, model_name: str = 'swinv2_base_window8_256', in_channels: int = 3,
                 img_size: int | tuple[int, int] = 256, pretrained: str | None = None,
                 drop_path_rate: float = 0.1, out_indices: Sequence[int] = (1, 2, 3, 4),
                 **timm_kwargs: Any) -> None:
        super().__init__()
        pretrained = check_local_checkpoint(pretrained)
        kwargs: dict[str, Any] = dict(in_chans=in_channels, img_size=img_size, num_classes=0,
                                      drop_path_rate=drop_path_rate, **timm_kwargs)
        if pretrained:
            kwargs['pretrained_cfg_overlay'] = dict(file=pretrained)
        model = timm.create_model(model_name, pretrained=bool(pretrained), **kwargs)
        model.norm = nn.Identity()  # unused by a dense model (features come from the stages)
        model.head = nn.Identity()
        self.model = model
        self.in_channels = in_channels
        self.pretrained = pretrained
        self.out_indices = tuple(out_indices)
        self._ref_window_sizes = tuple(model._ref_window_sizes)
        self.embed_dim = model.embed_dim
        # patch embedding, then the four stages: [D, D, 2D, 4D, 8D] channels, strides [4, 4, 8, 16, 32]
        self.stage_channels = [model.patch_embed.proj.out_channels] + [info['num_chs']
                                                                      for info in model.feature_info]
        self.stage_strides = [model.patch_embed.patch_size[0]] + [info['reduction'] for info in model.feature_info]
        self._size = tuple(model.patch_embed.img_size)

    @property
    def stages(self) -> list[nn.Module]:
        """``[patch_embed, layers[0], ..., layers[3]]``: NHWC in, NHWC out."""
        return [self.model.patch_embed, *self.model.layers]

    def load_pretrained(self) -> None:
        """Nothing to do: timm loaded :attr:`pretrained` when the encoder was built."""

    def set_input_size(self, size: tuple[int, int]) -> None:
        """Rebuild masks / window clamping for inputs of ``size`` (H, W); no-op if unchanged."""
        size = (int(size[0]), int(size[1]))
        if size == self._size:
            return
        self.model.set_input_size(img_size=size, window_size=self._ref_window_sizes)
        self._size = size


__all__ = ['TimmSwinV2']
