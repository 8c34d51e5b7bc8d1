#!/usr/bin/env python
"""Tiled inference over GeoTIFFs larger than memory (same as ``geoperc infer``).

    python tools/infer_geotiff.py CONFIG CHECKPOINT INPUT [INPUT2 ...] --out OUT \
        [--tile 512 --overlap 64 --batch-size 4 --output labels|probs --cog --resume --launcher none|pytorch]

Under torchrun: ``torchrun --nproc_per_node N tools/infer_geotiff.py ... --launcher pytorch``.
The logic lives in :func:`geoperc.cli.infer.main` (user errors: one line, exit 2; Ctrl-C: exit 130).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout too

from geoperc.cli.infer import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main(sys.argv[1:], prog='infer_geotiff.py'))
