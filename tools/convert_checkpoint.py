#!/usr/bin/env python
"""Convert an official checkpoint: ``python tools/convert_checkpoint.py {vpocc,omnifusion,mutdet} IN OUT``
(see geoperc/models/convert.py)."""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from geoperc.models.convert import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
