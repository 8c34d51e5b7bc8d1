"""``geoperc overlay``: quick-look PNG of a change result, before | after | prediction | reference
(``tools/change_overlay.py`` is the same).

Argument parsing only; the figure is :func:`geoperc.visualization.change.change_overlay_from_files`
(every input read decimated onto date 1's grid, so dates on different grids line up as in inference).
Runs under :func:`geoperc.cli.common.run`: bad input ends in one line and exit 2.
"""
import argparse
import sys
from typing import Optional, Sequence

from geoperc.cli.common import run
from geoperc.errors import SettingsError

__all__ = ['build_parser', 'main']


def build_parser(prog: str = 'geoperc overlay') -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description='before | after | prediction | reference PNG of a '
                                'change-detection result (GeoTIFFs of any size, read decimated; date 2, the '
                                'prediction and the reference are aligned to date 1\'s grid)')
    p.add_argument('before', help='date-1 GeoTIFF (defines the grid)')
    p.add_argument('after', help='date-2 GeoTIFF (any grid overlapping date 1)')
    p.add_argument('pred', help='change mask GeoTIFF (1 = change), e.g. from tools/infer_geotiff.py')
    p.add_argument('--reference', help='reference label GeoTIFF (1 = change)')
    p.add_argument('--bands', help='1-based bands shown as RGB, e.g. 3,2,1 (default: the first three bands; '
                                   'an alpha band is a mask, not a colour)')
    p.add_argument('--max-size', type=int, default=1024, help='longer side of each panel in pixels')
    p.add_argument('--out', required=True, help='output PNG')
    return p


def _bands(text: Optional[str]):
    if text is None:
        return None
    try:
        bands = tuple(int(b) for b in text.split(','))
    except ValueError as e:
        raise SettingsError(f'--bands {text!r}: give comma-separated 1-based band numbers, e.g. 1,2,3') from e
    if not bands or min(bands) < 1:
        raise SettingsError(f'--bands {text!r}: band numbers start at 1 (as GDAL counts)')
    return bands


def _overlay(args) -> int:
    from geoperc.visualization.change import change_overlay_from_files
    out = change_overlay_from_files(args.before, args.after, args.pred, args.out, args.reference,
                                    args.max_size, _bands(args.bands))
    print(out)
    return 0


def main(argv: Optional[Sequence[str]] = None, prog: str = 'geoperc overlay') -> int:
    """Parse ``argv`` and write the PNG; returns 0, or 2 for bad input (one line on stderr)."""
    args = build_parser(prog).parse_args(argv)
    return run(lambda _: _overlay(args), None, prog=prog)


if __name__ == '__main__':
    sys.exit(main())
