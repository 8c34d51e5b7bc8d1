"""Official checkpoints -> geoperc state dicts: ``tools/convert_checkpoint.py FAMILY IN OUT``.

Each family keeps its key mapping next to its model, in a module with::

    def convert(state: dict) -> tuple[dict, dict]:
        '''official state dict (prefixes such as ``module.`` / ``model.`` already handled by the
        family) -> (geoperc state dict, report); report = dict(unmatched=[official keys not mapped],
        notes=[...])'''

:data:`CONVERTERS` names those modules. This file only loads, dispatches, reports and saves (to a
temporary file renamed over ``OUT``, as ``{'state_dict': ..., 'meta': {'converted_from': IN}}``, tensors
and plain Python values only, so ``torch.load(OUT, weights_only=True)`` reads it).
"""
import argparse
import importlib
import os
import sys

from geoperc.errors import EXIT_USER_ERROR, CheckpointError, GeoPercError

CONVERTERS = {
    'vpocc': 'geoperc.models.occupancy.convert_vpocc',
    'omnifusion': 'geoperc.models.depth.convert_omnifusion',
    'mutdet': 'geoperc.models.detection.convert_mutdet',
}


def load_official(path: str, trust: bool = False) -> dict:
    """The state dict of an official checkpoint (Lightning ``state_dict``, mmcv ``state_dict`` /
    ``model``, or a bare dict). Loaded with ``weights_only=True`` unless ``trust``."""
    import torch
    if not os.path.isfile(path):
        raise CheckpointError(f'{path}: checkpoint file not found')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=not trust)
    except Exception as e:  # noqa: BLE001 - unpickling errors of every kind
        hint = '' if trust else ' (if you trust the file, pass --trust-checkpoint to allow a full pickle)'
        raise CheckpointError(f'{path}: cannot load the checkpoint: {str(e).splitlines()[0][:200]}{hint}') from e
    if isinstance(ckpt, dict):
        for key in ('state_dict', 'model', 'net'):
            if isinstance(ckpt.get(key), dict):
                return ckpt[key]
        return ckpt
    raise CheckpointError(f'{path}: not a state dict (a {type(ckpt).__name__})')


def convert_file(family: str, src: str, dst: str, trust: bool = False) -> dict:
    """Convert ``src`` for ``family`` and save to ``dst``; returns the converter's report."""
    import torch
    if family not in CONVERTERS:
        raise CheckpointError(f'unknown family {family!r}; choose from {", ".join(CONVERTERS)}')
    state = load_official(src, trust)
    new_state, report = importlib.import_module(CONVERTERS[family]).convert(state)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    tmp = dst + '.tmp'
    torch.save({'state_dict': new_state, 'meta': {'converted_from': os.path.abspath(src), 'family': family}}, tmp)
    os.replace(tmp, dst)
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='geoperc convert', description=__doc__.split('\n\n')[0])
    p.add_argument('family', choices=sorted(CONVERTERS))
    p.add_argument('src', help='official checkpoint')
    p.add_argument('dst', help='output .pth')
    p.add_argument('--trust-checkpoint', action='store_true', help='allow a full pickle (trusted files only)')
    args = p.parse_args(argv)
    try:
        report = convert_file(args.family, args.src, args.dst, args.trust_checkpoint)
    except GeoPercError as e:
        print(f'error: {e}', file=sys.stderr)
        return EXIT_USER_ERROR
    unmatched = report.get('unmatched', [])
    for note in report.get('notes', []):
        print(note)
    print(f'{args.dst}: {report.get("converted", "?")} tensors converted, {len(unmatched)} official keys '
          f'not mapped' + (': ' + ', '.join(unmatched[:20]) + (' ...' if len(unmatched) > 20 else '')
                           if unmatched else ''))
    return 0
