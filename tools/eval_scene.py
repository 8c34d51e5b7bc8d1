"""Evaluate a prediction on a scene exported from QGIS (same as ``geoperc eval-scene``; the command line is
:mod:`geoperc.cli.eval_scene`, the evaluation :mod:`geoperc.evaluation.scene`).

Usage: python tools/eval_scene.py --pred PRED.tif --ref REF.gpkg [--ref-layer NAME] --out DIR
       python tools/eval_scene.py --project P.qgz --pred-layer NAME --ref-layer NAME --out DIR
       python tools/eval_scene.py CONFIG CHECKPOINT --image A.tif [B.tif] --ref REF --out DIR
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from geoperc.cli.eval_scene import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
