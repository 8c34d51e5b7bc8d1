#!/usr/bin/env python
"""geoperc train: see `python tools/train.py -h` (same as `geoperc train`)."""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout too

from geoperc.runner import train  # noqa: E402

if __name__ == '__main__':
    train(sys.argv[1:])
