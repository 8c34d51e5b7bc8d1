#!/usr/bin/env python
"""MutDet step 2: object embeddings (frozen ResNet-50 on x1.5 rotated crops) and 256 pseudo-classes.

    python data_prep/mutdet/embeddings.py data/mutdet/step1 --out data/mutdet/step2 \
        --weights checkpoints/resnet50-0676ba61.pth

Writes ``embeddings/<patch>.npz``, ``labelTxt/<patch>.txt`` (``cluster_<k>``) and ``embedding_space.npz``
(the fitted PCA and centres, which the official code never published). Resumable: features already
extracted are kept, an existing fit is reused unless ``--refit``. See
:mod:`geoperc.models.detection.mutdet_embed`.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # run from a checkout

from geoperc.cli.common import run  # noqa: E402
from geoperc.models.detection.mutdet_cli import embeddings_main  # noqa: E402

if __name__ == '__main__':
    sys.exit(run(embeddings_main, None, prog='embeddings.py', resume_hint='rerun the same command to resume'))
