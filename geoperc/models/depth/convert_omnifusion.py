"""Official OmniFusion checkpoints -> :class:`~geoperc.models.depth.OmniFusion` state dicts.

``geoperc convert omnifusion OFFICIAL.pth OUT.pth`` (``tools/convert_checkpoint.py``) calls
:func:`convert`. The official ``spherical_fusion`` (``model/spherical_model_iterative.py``) keeps its
ResNet-34 as top-level ``conv1``, ``bn1``, ``layer1..4`` with Conv3d kernels ``(k, k, 1)``; ours has the
same names with 2-D kernels, so the mapping is: drop the ``module.`` prefix (released weights were
saved from ``nn.DataParallel``), squeeze the trailing unit dimension of every 5-D kernel, keep the rest.

The official HEAD builds ``down1`` with 32 output channels (128-px patches); the 256-px release has 8
(issues #3/#13 on ``yuliangguo/OmniFusion``). The report says which patch size the checkpoint needs, and
that released weights were trained without the confidence merge (build with ``confidence=False``).
"""
from typing import Dict, List, Tuple

import torch

__all__ = ['convert', 'official_key_shapes', 'OFFICIAL_PREFIXES']

OFFICIAL_PREFIXES = ('conv1.', 'bn1.', 'layer1.', 'layer2.', 'layer3.', 'layer4.', 'down1.', 'transformer.',
                     'de_conv', 'pred.', 'weight_pred.', 'mlp_points1.', 'mlp_points2.')


def _strip(key: str) -> str:
    for p in ('module.', 'model.', 'network.'):
        while key.startswith(p):
            key = key[len(p):]
    return key


def official_key_shapes(path: str) -> Dict[str, Tuple[Tuple[int, ...], str]]:
    """Read a ``key<TAB>shape<TAB>dtype`` table (``tests/fixtures/official/omnifusion_*.tsv``)."""
    out = {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            if not line.strip() or line.startswith('#'):
                continue
            key, shape, dtype = line.rstrip('\n').split('\t')
            out[key] = (() if shape == 'scalar' else tuple(int(s) for s in shape.split('x')), dtype)
    return out


def convert(state: dict) -> Tuple[dict, dict]:
    """Official state dict -> ``(geoperc state dict, report)``.

    ``report``: ``converted`` (count), ``unmatched`` (official keys not mapped), ``notes`` (patch size the
    checkpoint was trained with, layout, the confidence remark).
    """
    new: Dict[str, torch.Tensor] = {}
    unmatched: List[str] = []
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            unmatched.append(k)
            continue
        key = _strip(k)
        if not key.startswith(OFFICIAL_PREFIXES):
            unmatched.append(k)
            continue
        if v.dim() == 5:
            if v.shape[-1] != 1:
                unmatched.append(k)
                continue
            v = v[..., 0]
        new[key] = v.clone()
    notes = []
    down = new.get('down1.weight')
    pos = new.get('transformer.pos_emb')
    if down is not None:
        dim = int(pos.shape[-1]) if pos is not None else int(down.shape[1])
        cells = dim // int(down.shape[0])
        side = int(round(cells ** 0.5)) * 32
        notes.append(f'down1 has {down.shape[0]} channels ({dim}-d tokens of {cells} layer4 cells): build '
                     f'OmniFusion with patch_size={side}')
    if pos is not None:
        n = int(pos.shape[1])
        rows = {10: 3, 18: 4, 26: 5, 46: 6}.get(n)
        notes.append(f'{n} patches' + (f' (nrows={rows})' if rows else ' (unknown layout)'))
    if 'weight_pred.weight' in new:
        notes.append('the official training never enables the confidence merge: evaluate released weights '
                     'with confidence=False')
    return new, dict(converted=len(new), unmatched=unmatched, notes=notes)
