#!/usr/bin/env python
"""Verify a downloaded LEVIR-CD copy (read-only, so safe to rerun).

    python data_prep/levircd/check.py data/LEVIR-CD              # the release: 1024 px, 445/64/128
    python data_prep/levircd/check.py data/LEVIR-CD-256 --variant crops256   # after crop.py
    python data_prep/levircd/check.py data/LEVIR-CD --sample 10  # quick: sizes/values of 10 per split

Exit status 0 when the copy is complete; otherwise each problem is printed with its path.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # run from a checkout

from geoperc.datasets.change.verify import LayoutSpec, main  # noqa: E402

RELEASE = LayoutSpec(name='LEVIR-CD', folders=('A', 'B', 'label'),
                     splits={'train': 445, 'val': 64, 'test': 128}, size=(1024, 1024))
# data_prep/levircd/crop.py output: 16 crops of 256 px per tile
CROPS256 = LayoutSpec(name='LEVIR-CD (256 px crops)', folders=('A', 'B', 'label'),
                      splits={'train': 445 * 16, 'val': 64 * 16, 'test': 128 * 16}, size=(256, 256))

if __name__ == '__main__':
    sys.exit(main(RELEASE, variants={'release': RELEASE, 'crops256': CROPS256}))
