#!/usr/bin/env python
"""Verify a downloaded CDD copy (read-only, so safe to rerun).

    python data_prep/cdd/check.py data/ChangeDetectionDataset/Real/subset

Accepts the archive's top folder, ``Real`` or ``Real/subset`` (the benchmark subset is checked).
Exit status 0 when the copy is complete; otherwise each problem is printed with its path.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # run from a checkout

from geoperc.datasets.change.verify import LayoutSpec, main  # noqa: E402

RELEASE = LayoutSpec(name='CDD', folders=('A', 'B', 'OUT'),
                     splits={'train': 10000, 'val': 3000, 'test': 3000}, size=(256, 256),
                     img_suffix=('.jpg', '.jpeg'), seg_suffix=('.jpg', '.jpeg'), jpeg_labels=True)


def subset_root(root: str) -> str:
    """The folder holding train/val/test below any of the accepted levels."""
    for sub in ('', 'subset', osp.join('Real', 'subset')):
        if osp.isdir(osp.join(root, sub, 'train')):
            return osp.join(root, sub) if sub else root
    return root


if __name__ == '__main__':
    sys.exit(main(RELEASE, resolve_root=subset_root))
