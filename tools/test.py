#!/usr/bin/env python
"""geoperc test: see `python tools/test.py -h` (same as `geoperc test`)."""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout too

from geoperc.runner import test  # noqa: E402

if __name__ == '__main__':
    test(sys.argv[1:])
