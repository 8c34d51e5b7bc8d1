"""``geoperc test CONFIG CHECKPOINT``: evaluate a checkpoint on a config's test set (``tools/test.py``).

Argument parsing only; the work is :func:`geoperc.runner.test`, run under
:func:`geoperc.cli.common.run` (user errors: one line, exit 2).
"""
import argparse
from typing import List, Optional

from geoperc.cli.train import add_runner_arguments, set_local_rank

__all__ = ['build_parser', 'main']


def build_parser(prog: str = 'geoperc test') -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Evaluate a checkpoint on a config's test set.")
    p.add_argument('config', help='path to a pure-Python config')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument('--out', help='dump the raw predictions to this .pkl file')
    return add_runner_arguments(p)


def main(argv: Optional[List[str]] = None, prog: str = 'geoperc test') -> int:
    args = build_parser(prog).parse_args(argv)
    set_local_rank(args.local_rank)
    from geoperc.runner import test
    test(args.config, args.checkpoint, work_dir=args.work_dir, cfg_options=args.cfg_options, out=args.out,
         launcher=args.launcher, trust_checkpoint=args.trust_checkpoint)
    return 0
