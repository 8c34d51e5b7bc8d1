"""Official VPOcc checkpoints -> :class:`~geoperc.models.occupancy.VPOcc` state dicts.

``tools/convert_checkpoint.py vpocc OFFICIAL.ckpt OUT.pth`` (dispatched by :mod:`geoperc.models.convert`).
The released checkpoints (HF ``joonsu0109/vpocc-semantickitti``, ``joonsu0109/vpocc-sscbench-kitti360``)
are PyTorch Lightning checkpoints: the model's keys sit under ``state_dict`` with a ``model.`` prefix
(the key list of the official model is ``tests/fixtures/official/vpocc.tsv``).

Mapping (everything else keeps its name, since our modules mirror the official ones):

=====================================================  ==========================================
official                                               geoperc
=====================================================  ==========================================
``encoder.model.backbone.*``                           ``encoder.backbone.*`` (mmdet ResNet)
``encoder.model.panoptic_head.pixel_decoder.*``        ``encoder.pixel_decoder.*``
``encoder.out_projs.*``, ``decoder.*``                 unchanged
``encoder.model.panoptic_head.criterion.empty_weight`` dropped: MaskDINO's training criterion
``decoder.image_grid``                                 dropped: a fixed pixel grid, recomputed
                                                       from the input size here
=====================================================  ==========================================
"""
from typing import Dict, Tuple

__all__ = ['convert', 'DROPPED']

#: official keys that carry no learned state in our model, with the reason
DROPPED = {
    'encoder.model.panoptic_head.criterion.empty_weight': "MaskDINO's panoptic training criterion (unused by VPOcc)",
    'decoder.image_grid': 'fixed (x, y) pixel grid buffer; recomputed from the input size',
}
_RENAMES = (('encoder.model.backbone.', 'encoder.backbone.'),
            ('encoder.model.panoptic_head.pixel_decoder.', 'encoder.pixel_decoder.'),
            ('encoder.out_projs.', 'encoder.out_projs.'),
            ('decoder.', 'decoder.'))


def _strip(state: Dict) -> Dict:
    keys = list(state)
    for prefix in ('module.', 'model.'):
        if keys and all(k.startswith(prefix) for k in keys):
            state = {k[len(prefix):]: v for k, v in state.items()}
            keys = list(state)
    return state


def convert(state: Dict) -> Tuple[Dict, Dict]:
    """Official (Lightning ``state_dict``, ``model.`` prefix optional) -> ``(geoperc state dict, report)``."""
    state = _strip(dict(state))
    out, unmatched, dropped = {}, [], []
    for k, v in state.items():
        if k in DROPPED:
            dropped.append(k)
            continue
        for src, dst in _RENAMES:
            if k.startswith(src):
                out[dst + k[len(src):]] = v
                break
        else:
            unmatched.append(k)
    notes = [f'dropped {k}: {DROPPED[k]}' for k in dropped]
    if any(k.startswith('encoder.model.panoptic_head.predictor.') for k in unmatched):
        notes.append('panoptic_head.predictor.* (MaskDINO mask decoder) is not part of VPOcc and was not mapped')
    return out, dict(converted=len(out), unmatched=unmatched, dropped=dropped, notes=notes)
