#!/usr/bin/env python
"""geoperc train: see `python tools/train.py -h` (same as `geoperc train`)."""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout too

from geoperc.cli.common import run  # noqa: E402
from geoperc.cli.train import RESUME_HINT, main  # noqa: E402

if __name__ == '__main__':
    sys.exit(run(main, sys.argv[1:], prog='tools/train.py', resume_hint=RESUME_HINT))
