#!/usr/bin/env python
"""MutDet step 1: rotated pseudo-boxes from masks over 800 px patches (gap 200), as DOTA ``labelTxt``.

    python data_prep/mutdet/pseudo_boxes.py data/DOTA/train/images --out data/mutdet/step1 --workers 2
    python data_prep/mutdet/pseudo_boxes.py scene.tif --out data/mutdet/scene_step1          # a GeoTIFF
    python data_prep/mutdet/pseudo_boxes.py IMAGES --out OUT --method sam --sam-checkpoint sam_vit_h_4b8939.pth

Idempotent and resumable (finished patches are skipped; ``--overwrite`` redoes them). See
:mod:`geoperc.models.detection.mutdet_pseudo` for the method, ``data_prep/mutdet/README.md`` for the chain.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # run from a checkout

from geoperc.cli.common import run  # noqa: E402
from geoperc.models.detection.mutdet_cli import pseudo_boxes_main  # noqa: E402

if __name__ == '__main__':
    sys.exit(run(pseudo_boxes_main, None, prog='pseudo_boxes.py', resume_hint='rerun the same command to resume'))
