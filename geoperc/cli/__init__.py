"""``geoperc <command> ...``: one console command for every tool (``geoperc --version``).

Each command's argument parsing lives in ``geoperc/cli/<command>.py`` and runs under
:func:`geoperc.cli.common.run` (user errors: one line, exit 2).

    geoperc train CONFIG [--work-dir D] [--resume [CKPT]] [--amp] [--launcher ...] [--cfg-options k=v]
    geoperc test CONFIG CHECKPOINT [...]
    geoperc infer CONFIG CHECKPOINT INPUT [INPUT2] --out OUT [...]   (tiled GeoTIFF inference)
    geoperc eval-scene --pred PRED.tif --ref REF --out DIR [...]     (QGIS-exported scene evaluation)
    geoperc overlay BEFORE.tif AFTER.tif MASK.tif [--reference LABEL.tif] --out QUICKLOOK.png
    geoperc demo [--task change|detection|mutdet|occupancy|depth] [--out DIR]
    geoperc convert FAMILY OFFICIAL_CKPT OUT.pth                      (official checkpoints -> geoperc)
    geoperc pretrain {pseudo-boxes,embeddings,train,finetune-weights} ...   (the MutDet chain, step by step)
"""
import importlib
import sys

from geoperc.cli.common import run

COMMANDS = {
    'train': ('geoperc.cli.train', 'main'),
    'test': ('geoperc.cli.test', 'main'),
    'infer': ('geoperc.cli.infer', 'main'),
    'eval-scene': ('geoperc.cli.eval_scene', 'main'),
    'overlay': ('geoperc.cli.overlay', 'main'),
    'demo': ('geoperc.demo', 'main'),
    'convert': ('geoperc.models.convert', 'main'),
    'pretrain': ('geoperc.models.detection.mutdet_cli', 'main'),
}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == '--version':
        from geoperc import __version__
        print(f'geoperc {__version__}')
        return 0
    if not argv or argv[0] in ('-h', '--help') or argv[0] not in COMMANDS:
        print(__doc__.strip(), file=sys.stdout if argv else sys.stderr)
        if argv and argv[0] in ('-h', '--help'):
            return 0
        if argv:
            print(f'\nerror: unknown command {argv[0]!r}', file=sys.stderr)
        return 2
    module, func = COMMANDS[argv[0]]
    mod = importlib.import_module(module)
    return run(getattr(mod, func), argv[1:], prog=f'geoperc {argv[0]}', resume_hint=getattr(mod, 'RESUME_HINT', None))


if __name__ == '__main__':
    sys.exit(main())
