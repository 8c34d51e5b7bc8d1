"""``geoperc train CONFIG``: train a model from a pure-Python config (``tools/train.py`` is the same).

Argument parsing only; the work is :func:`geoperc.runner.train`. Run under
:func:`geoperc.cli.common.run`: a user error (missing config or data_root, unknown ``--cfg-options`` key,
band-count mismatch, unreadable checkpoint) ends in one line and exit 2; Ctrl-C says how to resume.
"""
import argparse
import os
from typing import List, Optional

__all__ = ['build_parser', 'add_runner_arguments', 'main', 'RESUME_HINT']

RESUME_HINT = 'rerun the same command with --resume to continue from the last checkpoint'


def add_runner_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options ``train`` and ``test`` share."""
    from mmengine.config import DictAction
    p.add_argument('--work-dir', help='where logs and checkpoints go (default ./work_dirs/<config>)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None, metavar='KEY=VALUE',
                   help='override config settings, e.g. data_root=/data/LEVIR-CD train_cfg.max_iters=10; '
                        'unknown keys are refused')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                   help='job launcher: pytorch under torchrun, slurm under srun')
    p.add_argument('--trust-checkpoint', action='store_true',
                   help='allow loading checkpoints that are full pickles (only for files you trust)')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    return p


def build_parser(prog: str = 'geoperc train') -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description='Train a model from a config.')
    p.add_argument('config', help='path to a pure-Python config')
    p.add_argument('--resume', nargs='?', type=str, const='auto',
                   help='resume from CKPT, or from the latest checkpoint in the work dir if no path')
    p.add_argument('--amp', action='store_true', help='automatic mixed precision (GPU only)')
    return add_runner_arguments(p)


def set_local_rank(local_rank: int) -> None:
    """``--local_rank`` of ``torch.distributed.launch`` -> ``LOCAL_RANK`` (torchrun sets it itself)."""
    os.environ.setdefault('LOCAL_RANK', str(local_rank))


def main(argv: Optional[List[str]] = None, prog: str = 'geoperc train') -> int:
    args = build_parser(prog).parse_args(argv)
    set_local_rank(args.local_rank)
    from geoperc.runner import train
    train(args.config, work_dir=args.work_dir, cfg_options=args.cfg_options, resume=args.resume, amp=args.amp,
          launcher=args.launcher, trust_checkpoint=args.trust_checkpoint)
    return 0
