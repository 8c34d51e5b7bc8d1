#!/usr/bin/env python
"""Verify a downloaded S2Looking copy (read-only, so safe to rerun).

    python data_prep/s2looking/check.py data/S2Looking

Uses ``label/`` when present, else checks ``label1/`` + ``label2/`` (united by the dataset).
Exit status 0 when the copy is complete; otherwise each problem is printed with its path.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # run from a checkout

from geoperc.datasets.change.verify import LayoutSpec, main  # noqa: E402

RELEASE = LayoutSpec(name='S2Looking', folders=('Image1', 'Image2', 'label'),
                     splits={'train': 3500, 'val': 500, 'test': 1000}, size=(1024, 1024),
                     alt_label_folders=('label1', 'label2'))

if __name__ == '__main__':
    sys.exit(main(RELEASE))
