#!/usr/bin/env python
"""geoperc test: see `python tools/test.py -h` (same as `geoperc test`)."""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout too

from geoperc.cli.common import run  # noqa: E402
from geoperc.cli.test import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(run(main, sys.argv[1:], prog='tools/test.py'))
