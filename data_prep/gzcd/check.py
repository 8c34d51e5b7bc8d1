#!/usr/bin/env python
"""Verify a GZ-CD copy (read-only, so safe to rerun).

    python data_prep/gzcd/check.py data/GZ-CD                 # cropped split copy {train,val,test}/{A,B,label}
    python data_prep/gzcd/check.py data/GZ-CD --variant raw   # the release's T1 / T2 / labels_change

Split sizes of the cropped copies differ between papers, so only non-empty splits, matching names,
equal A/B/label sizes and 0/255 labels are required. Exit status 0 when the copy is good.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # run from a checkout

from geoperc.datasets.change.verify import LayoutSpec, main  # noqa: E402

IMG = ('.png', '.jpg', '.tif', '.tiff')
SPLITS = LayoutSpec(name='GZ-CD', folders=('A', 'B', 'label'),
                    splits={'train': None, 'val': None, 'test': None}, img_suffix=IMG, seg_suffix=IMG)
RAW = LayoutSpec(name='GZ-CD (release scenes)', folders=('T1', 'T2', 'labels_change'),
                 splits={'.': 19}, img_suffix=IMG, seg_suffix=IMG, split_dirs=False)

if __name__ == '__main__':
    sys.exit(main(SPLITS, variants={'splits': SPLITS, 'raw': RAW}))
