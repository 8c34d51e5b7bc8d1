"""``geoperc <command> ...``: one console command for every tool.

    geoperc train CONFIG [--work-dir D] [--resume [CKPT]] [--amp] [--launcher ...] [--cfg-options k=v]
    geoperc test CONFIG CHECKPOINT [...]
    geoperc infer CONFIG CHECKPOINT INPUT [INPUT2] --out OUT [...]   (tiled GeoTIFF inference)
    geoperc eval-scene --pred PRED.tif --ref REF --out DIR [...]     (QGIS-exported scene evaluation)
    geoperc overlay BEFORE.tif AFTER.tif MASK.tif [--reference LABEL.tif] --out QUICKLOOK.png
    geoperc demo [--task change|detection|mutdet|occupancy|depth] [--out DIR]
    geoperc convert FAMILY OFFICIAL_CKPT OUT.pth                      (official checkpoints -> geoperc)
"""
import importlib
import sys

COMMANDS = {
    'train': ('geoperc.runner', 'train'),
    'test': ('geoperc.runner', 'test'),
    'infer': ('geoperc.inference.cli', 'main'),
    'eval-scene': ('geoperc.evaluation.scene', 'main'),
    'overlay': ('geoperc.visualization.change', 'main'),
    'demo': ('geoperc.demo', 'main'),
    'convert': ('geoperc.models.convert', 'main'),
}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help') or argv[0] not in COMMANDS:
        print(__doc__.strip())
        if argv and argv[0] not in ('-h', '--help'):
            print(f'\nerror: unknown command {argv[0]!r}', file=sys.stderr)
            return 2
        return 0
    module, func = COMMANDS[argv[0]]
    out = getattr(importlib.import_module(module), func)(argv[1:])
    return out if isinstance(out, int) else 0


if __name__ == '__main__':
    sys.exit(main())
