#!/usr/bin/env python
"""Quick-look PNG of a change result: before | after | prediction | reference (same as `geoperc overlay`;
the command line is geoperc/cli/overlay.py)."""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from geoperc.cli.overlay import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
