"""``make demo`` / ``geoperc demo [--task T] [...]``: the embedded default and the per-family demos.

``--task change`` (the default) generates a georeferenced bi-temporal scene, trains a tiny FSG-Net,
runs tiled inference and evaluates the scene; the other tasks are listed in :mod:`geoperc.demos`.
Every other argument goes to the task's own ``main``.
"""
import importlib
import sys

from geoperc.demos import TASKS


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    task = 'change'
    if '--task' in argv:
        i = argv.index('--task')
        if i + 1 >= len(argv):
            print('geoperc demo: --task needs a value: ' + ', '.join(TASKS), file=sys.stderr)
            return 2
        task = argv[i + 1]
        del argv[i:i + 2]
    if task not in TASKS:
        print(f'geoperc demo: unknown task {task!r}; choose from {", ".join(TASKS)}', file=sys.stderr)
        return 2
    out = importlib.import_module(TASKS[task]).main(argv)
    return out if isinstance(out, int) else 0


if __name__ == '__main__':
    raise SystemExit(main())
