#!/usr/bin/env python
"""Verify a downloaded CLCD copy (read-only, so safe to rerun).

    python data_prep/clcd/check.py data/CLCD

Exit status 0 when the copy is complete; otherwise each problem is printed with its path.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # run from a checkout

from geoperc.datasets.change.verify import LayoutSpec, main  # noqa: E402

RELEASE = LayoutSpec(name='CLCD', folders=('time1', 'time2', 'label'),
                     splits={'train': 360, 'val': 120, 'test': 120}, size=(512, 512))

if __name__ == '__main__':
    sys.exit(main(RELEASE))
