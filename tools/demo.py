#!/usr/bin/env python
"""geoperc demo: generate a georeferenced scene, train, infer, evaluate (see geoperc/demo.py)."""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from geoperc.demo import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
