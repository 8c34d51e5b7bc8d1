"""Load local RGB-pretrained weights into a backbone with any band count.

Nothing is downloaded: ``path`` is a local ``.pth``/``.pt``/``.bin``/``.safetensors`` file, e.g.
torchvision's ``resnet18-f37072fd.pth`` (its keys match mmdet's ``ResNet``).

Band adaptation (same rule as timm's ``adapt_input_conv``): a first-layer kernel trained on 3 bands,
``(O, 3, k, k)``, becomes ``(O, C, k, k)`` by repeating the RGB filters cyclically over the C bands and
scaling by ``3 / C``, so a scene whose bands all equal the RGB mean gives the same first-layer response.
For C = 1 the RGB filters are summed. The band order of the data is then the user's business: bands 0-2
get the R, G, B filters.

.. versionadded:: 0.1
"""
from __future__ import annotations

import torch
import torch.nn as nn
from mmengine.logging import print_log


def adapt_input_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """``(O, I, k, k)`` kernel -> ``(O, in_channels, k, k)`` (see module docstring)."""
    O, I = weight.shape[:2]
    if I == in_channels:
        return weight
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    idx = torch.arange(in_channels) % I
    return weight[:, idx] * (I / in_channels)


def read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """A flat state dict from a local checkpoint file (``state_dict`` / ``model`` wrappers unwrapped);
    a missing file or a hub name raises :class:`~geoperc.errors.CheckpointError`."""
    from .base import check_local_checkpoint
    check_local_checkpoint(path)
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        sd: dict = load_file(path)
    else:
        sd = torch.load(path, map_location='cpu', weights_only=True)
    for key in ('state_dict', 'model'):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    return sd


def load_pretrained(module: nn.Module, path: str, *, prefix: str = '',
                    first_conv: str = 'conv1.weight') -> tuple[list[str], list[str]]:
    """Load ``path`` into ``module`` non-strictly, adapting ``first_conv`` to the module's band count.

    Args:
        module: the backbone.
        path: local checkpoint.
        prefix: keep only keys starting with it (stripped), e.g. ``'backbone.'``.
        first_conv: key of the first convolution kernel.

    Returns:
        ``(missing, unexpected)`` keys (also logged); shape mismatches other than the first conv raise.
    """
    sd = read_state_dict(path)
    if prefix:
        sd = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    own = module.state_dict()
    if first_conv in sd and first_conv in own:
        sd[first_conv] = adapt_input_conv(sd[first_conv], own[first_conv].shape[1])
    unexpected = [k for k in sd if k not in own]
    sd = {k: v for k, v in sd.items() if k in own}
    bad = [k for k, v in sd.items() if v.shape != own[k].shape]
    if bad:
        from geoperc.errors import CheckpointError
        raise CheckpointError(f'{path}: shape mismatch for {bad[:5]}')
    missing = list(module.load_state_dict(sd, strict=False).missing_keys)
    print_log(f'loaded {len(sd)} tensors from {path}; {len(missing)} missing, {len(unexpected)} unused '
              f'(e.g. {unexpected[:3]})', logger='current')
    return missing, unexpected


__all__ = ['adapt_input_conv', 'read_state_dict', 'load_pretrained']
