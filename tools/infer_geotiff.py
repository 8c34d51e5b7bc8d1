"""Tiled inference over GeoTIFFs larger than memory.

    python tools/infer_geotiff.py CONFIG CHECKPOINT INPUT [INPUT2 ...] --out OUT \
        [--tile 512 --overlap 64 --batch-size 4 --output labels|probs --cog --resume --launcher none|pytorch]

Under torchrun: ``torchrun --nproc_per_node N tools/infer_geotiff.py ... --launcher pytorch``.
The logic lives in :func:`geoperc.inference.cli.main`.
"""
import sys

from geoperc.inference.cli import main

if __name__ == '__main__':
    sys.exit(main())
